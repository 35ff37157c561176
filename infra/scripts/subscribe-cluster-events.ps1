# azd postdeploy hook (Windows): the same as subscribe-cluster-events.sh.
# JSON never goes to az inline: Windows PowerShell strips the double quotes inside native command arguments, so the
# topic's identity PATCH and the tags go through files (a body file, a deployment parameters file).
$ErrorActionPreference = 'Stop'
. "$PSScriptRoot/lib.ps1"
Require-AzLogin postdeploy

$topicName = $env:SYSTEM_TOPIC_NAME
$topicGroup = $env:AZURE_RESOURCE_GROUP
$reuse = 'false'
$source = "/subscriptions/$env:AZURE_SUBSCRIPTION_ID"
$existing = az eventgrid system-topic list --subscription $env:AZURE_SUBSCRIPTION_ID -o json | ConvertFrom-Json |
  Where-Object { $_.source -ieq $source } | Select-Object -First 1
if ($existing -and "$($existing.name)/$($existing.resourceGroup)" -ine "$topicName/$topicGroup") {
    $reuse = 'true'
    $topicName = $existing.name
    $topicGroup = $existing.resourceGroup
    Write-Host "argoboot: subscription $env:AZURE_SUBSCRIPTION_ID already has the system topic $($existing.id); adding the event subscription to it"
    $assigned = @()
    if ($existing.identity -and $existing.identity.userAssignedIdentities) {
        $assigned = @($existing.identity.userAssignedIdentities.PSObject.Properties.Name)
    }
    if (-not ($assigned | Where-Object { $_ -ieq $env:EVENTS_IDENTITY_ID })) {
        if ($existing.identity -and "$($existing.identity.type)" -match 'SystemAssigned') {
            Write-Error "argoboot: the system topic $($existing.id) has a system-assigned identity, and Event Grid does not let a topic have both kinds, so it cannot dead-letter with $env:EVENTS_IDENTITY_ID. Either switch the topic to user-assigned identities (its other event subscriptions' dead-letter settings use them) and add that one, or delete the topic; then run 'azd hooks run postdeploy'"
            exit 1
        }
        if ($assigned.Count -ge 2) {
            Write-Error "argoboot: the system topic $($existing.id) already has two user-assigned identities, the most Event Grid allows; remove one or add $env:EVENTS_IDENTITY_ID in its place, then run 'azd hooks run postdeploy'"
            exit 1
        }
        $identities = @{}
        foreach ($id in @($assigned) + $env:EVENTS_IDENTITY_ID) { $identities[$id] = @{} }
        $bodyFile = New-TemporaryFile
        @{ identity = @{ type = 'UserAssigned'; userAssignedIdentities = $identities } } |
          ConvertTo-Json -Depth 5 -Compress | Set-Content -Path $bodyFile -Encoding ascii
        az rest --method patch --url "$($existing.id)?api-version=2022-06-15" --body "@$bodyFile" --output none
        $status = $LASTEXITCODE
        Remove-Item $bodyFile
        if ($status -ne 0) { exit $status }
        Write-Host "argoboot: added the events identity to $($existing.id) (it dead-letters undeliverable cluster events with it)"
    }
}

# The tags object as a deployment parameters file.
$tagsFile = New-TemporaryFile
@{ '$schema' = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#'
   contentVersion = '1.0.0.0'
   parameters = @{ tags = @{ value = @{ 'azd-env-name' = $env:AZURE_ENV_NAME; application = 'argoboot' } } } } |
  ConvertTo-Json -Depth 5 -Compress | Set-Content -Path $tagsFile -Encoding ascii
$deployment = if ($reuse -eq 'true') { "events-$env:DEPLOYMENT_SUFFIX" } else { 'cluster-events' }
Retry-On "subscribing $env:AZURE_FUNCTION_APP_NAME/cluster_events to the cluster events" `
  'Destination endpoint not found|endpoint.*not found' `
  "Event Grid still cannot see the function; check that 'azd deploy' published it ('az functionapp function list -g $env:AZURE_RESOURCE_GROUP -n $env:AZURE_FUNCTION_APP_NAME' lists cluster_events), then run 'azd hooks run postdeploy'" {
  az deployment group create `
    --subscription $env:AZURE_SUBSCRIPTION_ID `
    --resource-group $topicGroup `
    --name $deployment `
    --template-file infra/modules/cluster-events.bicep `
    --parameters `
      systemTopicName=$topicName `
      reuseExistingTopic=$reuse `
      eventSubscriptionName=$env:EVENT_SUBSCRIPTION_NAME `
      functionAppId=$env:AZURE_FUNCTION_APP_ID `
      eventsIdentityId=$env:EVENTS_IDENTITY_ID `
      deadLetterStorageAccountId=$env:STORAGE_ACCOUNT_ID `
      deadLetterContainerName=$env:DEAD_LETTER_CONTAINER `
      alertActionGroupId=$env:ALERT_ACTION_GROUP_ID `
      "@$tagsFile" `
    --output none
}
Remove-Item $tagsFile
if ($reuse -ne 'true') { azd env set SUBSCRIBE_CLUSTER_EVENTS true }
Write-Host "argoboot: cluster events of subscription $env:AZURE_SUBSCRIPTION_ID now reach $env:AZURE_FUNCTION_APP_NAME/cluster_events"
