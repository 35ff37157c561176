// Onboard one more subscription: the app's custom role there (created if needed) and (by default) a system topic
// sending that subscription's cluster events to the same function app. Run it in the subscription to onboard, with
// values from the main deployment's outputs, then assign the role with infra/scripts/assign-bootstrapper-role.sh and
// add the subscription to ALLOWED_SUBSCRIPTIONS (main.bicep's otherSubscriptions); docs/deploy.md has the commands.
targetScope = 'subscription'

@description('As in main.bicep: let the app turn on workload identity of this subscription\'s AKS clusters.')
param enableWorkloadIdentityOnClusters bool = false

@description('Also send this subscription\'s cluster events to the function app (needs the app\'s code published).')
param subscribeClusterEvents bool = true

@description('Resource id of the function app: output AZURE_FUNCTION_APP_ID.')
param functionAppId string = ''

@description('Resource id of the Event Grid identity: output EVENTS_IDENTITY_ID.')
param eventsIdentityId string = ''

@description('Resource id of the storage account holding dead-lettered events: output STORAGE_ACCOUNT_ID.')
param deadLetterStorageAccountId string = ''

param deadLetterContainerName string = 'cluster-events-deadletter'

@description('Resource id of the action group the dead-letter alert notifies: output ALERT_ACTION_GROUP_ID (empty: none).')
param alertActionGroupId string = ''

@description('Resource group created in this subscription for the system topic.')
param resourceGroupName string = 'rg-argoboot-events'

@description('Region of that resource group (the system topic itself is global).')
param location string = deployment().location

var tags = {
  application: 'argoboot'
}

// The definition here; its assignment once it has replicated: infra/scripts/assign-bootstrapper-role.sh.
module role 'modules/bootstrapper-role.bicep' = {
  name: 'argoboot-bootstrapper-role'
  params: {
    enableWorkloadIdentityOnClusters: enableWorkloadIdentityOnClusters
  }
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = if (subscribeClusterEvents) {
  name: resourceGroupName
  location: location
  tags: tags
}

module clusterEvents 'modules/cluster-events.bicep' = if (subscribeClusterEvents) {
  name: 'argoboot-cluster-events'
  scope: rg
  params: {
    tags: tags
    systemTopicName: 'evgt-argoboot-${uniqueString(subscription().id, functionAppId)}'
    functionAppId: functionAppId
    eventsIdentityId: eventsIdentityId
    deadLetterStorageAccountId: deadLetterStorageAccountId
    deadLetterContainerName: deadLetterContainerName
    alertActionGroupId: alertActionGroupId
  }
}

output roleDefinitionId string = role.outputs.roleDefinitionId
