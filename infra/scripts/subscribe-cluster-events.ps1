# azd postdeploy hook (Windows): the same as subscribe-cluster-events.sh.
$ErrorActionPreference = 'Stop'
$tags = @{ 'azd-env-name' = $env:AZURE_ENV_NAME; application = 'argoboot' } | ConvertTo-Json -Compress
az deployment group create `
  --subscription $env:AZURE_SUBSCRIPTION_ID `
  --resource-group $env:AZURE_RESOURCE_GROUP `
  --name argoboot-cluster-events `
  --template-file infra/modules/cluster-events.bicep `
  --parameters `
    systemTopicName=$env:SYSTEM_TOPIC_NAME `
    functionAppId=$env:AZURE_FUNCTION_APP_ID `
    eventsIdentityId=$env:EVENTS_IDENTITY_ID `
    deadLetterStorageAccountId=$env:STORAGE_ACCOUNT_ID `
    deadLetterContainerName=$env:DEAD_LETTER_CONTAINER `
    tags=$tags `
  --output none
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
azd env set SUBSCRIBE_CLUSTER_EVENTS true
