# azd predown hook (Windows): the same as remove-cluster-events.sh.
$ErrorActionPreference = 'Stop'
. "$PSScriptRoot/lib.ps1"
Require-AzLogin down

$source = "/subscriptions/$env:AZURE_SUBSCRIPTION_ID"
$existing = az eventgrid system-topic list --subscription $env:AZURE_SUBSCRIPTION_ID -o json | ConvertFrom-Json |
  Where-Object { $_.source -ieq $source } | Select-Object -First 1
if ($existing -and $existing.resourceGroup -ine $env:AZURE_RESOURCE_GROUP) {
    az eventgrid system-topic event-subscription delete --subscription $env:AZURE_SUBSCRIPTION_ID `
      --resource-group $existing.resourceGroup --system-topic-name $existing.name `
      --name $env:EVENT_SUBSCRIPTION_NAME --yes
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    foreach ($alert in 'dead-letters', 'delivery-failures', 'dropped-events') {
        az monitor metrics alert delete --subscription $env:AZURE_SUBSCRIPTION_ID `
          --resource-group $existing.resourceGroup --name "$($existing.name)-$env:EVENT_SUBSCRIPTION_NAME-$alert"
        if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    }
    $assigned = @()
    if ($existing.identity -and $existing.identity.userAssignedIdentities) {
        $assigned = @($existing.identity.userAssignedIdentities.PSObject.Properties.Name)
    }
    if ($assigned | Where-Object { $_ -ieq $env:EVENTS_IDENTITY_ID }) {
        # PATCH semantics: null removes one identity; a topic left with none has identity type None.
        $identity = if ($assigned.Count -ge 2) {
            @{ type = 'UserAssigned'; userAssignedIdentities = @{ $env:EVENTS_IDENTITY_ID = $null } }
        } else { @{ type = 'None' } }
        $bodyFile = New-TemporaryFile
        @{ identity = $identity } | ConvertTo-Json -Depth 5 -Compress | Set-Content -Path $bodyFile -Encoding ascii
        az rest --method patch --url "$($existing.id)?api-version=2022-06-15" --body "@$bodyFile" --output none
        $status = $LASTEXITCODE
        Remove-Item $bodyFile
        if ($status -ne 0) { exit $status }
    }
    Write-Host "argoboot: took $env:EVENT_SUBSCRIPTION_NAME and the events identity off $($existing.id) (the topic stays)"
}
azd env set SUBSCRIBE_CLUSTER_EVENTS false
Write-Host "argoboot: SUBSCRIBE_CLUSTER_EVENTS reset: the next 'azd up' subscribes the events after publishing the code"
