# azd postdeploy hook (Windows): the same as subscribe-cluster-events.sh.
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
        $body = @{ identity = @{ type = 'UserAssigned'; userAssignedIdentities = $identities } } | ConvertTo-Json -Depth 5 -Compress
        az rest --method patch --url "$($existing.id)?api-version=2022-06-15" --body $body --output none
        if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
        Write-Host "argoboot: added the events identity to $($existing.id) (it dead-letters undeliverable cluster events with it)"
    }
}

$tags = @{ 'azd-env-name' = $env:AZURE_ENV_NAME; application = 'argoboot' } | ConvertTo-Json -Compress
Retry-On "subscribing $env:AZURE_FUNCTION_APP_NAME/cluster_events to the cluster events" `
  'Destination endpoint not found|endpoint.*not found' `
  "Event Grid still cannot see the function; check that 'azd deploy' published it ('az functionapp function list -g $env:AZURE_RESOURCE_GROUP -n $env:AZURE_FUNCTION_APP_NAME' lists cluster_events), then run 'azd hooks run postdeploy'" {
  az deployment group create `
    --subscription $env:AZURE_SUBSCRIPTION_ID `
    --resource-group $topicGroup `
    --name argoboot-cluster-events `
    --template-file infra/modules/cluster-events.bicep `
    --parameters `
      systemTopicName=$topicName `
      reuseExistingTopic=$reuse `
      functionAppId=$env:AZURE_FUNCTION_APP_ID `
      eventsIdentityId=$env:EVENTS_IDENTITY_ID `
      deadLetterStorageAccountId=$env:STORAGE_ACCOUNT_ID `
      deadLetterContainerName=$env:DEAD_LETTER_CONTAINER `
      alertActionGroupId=$env:ALERT_ACTION_GROUP_ID `
      tags=$tags `
    --output none
}
azd env set SUBSCRIBE_CLUSTER_EVENTS true
if ($reuse -eq 'true') {
    azd env set ARGOBOOT_SYSTEM_TOPIC_NAME $topicName
    azd env set ARGOBOOT_SYSTEM_TOPIC_RESOURCE_GROUP $topicGroup
}
Write-Host "argoboot: cluster events of subscription $env:AZURE_SUBSCRIPTION_ID now reach $env:AZURE_FUNCTION_APP_NAME/cluster_events"
