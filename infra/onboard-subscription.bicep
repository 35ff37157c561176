// Onboard one more subscription: the app's custom roles there (this environment's own) and (by default) the event
// subscription sending that subscription's cluster events to the same function app, on a system topic of its own or
// on the one the subscription has already (Azure allows one per subscription). Run it in the subscription to onboard,
// with values from the main deployment's outputs, then assign the roles with infra/scripts/assign-bootstrapper-role.sh
// (which first creates this subscription's identity group, IDENTITY_RESOURCE_GROUP, if missing: as in the main
// subscription, not here, so no deployment owns the group the clusters' identities live in) and add the subscription
// to ALLOWED_SUBSCRIPTIONS (main.bicep's otherSubscriptions); docs/deploy.md has the commands.
// Not an azd deployment: `azd down` never sees it (docs/deploy.md, "Removing", says how to take it back).
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('The main deployment\'s environment name (AZURE_ENV_NAME): the roles, deployments and event subscription carry it.')
param environmentName string

@description('The main deployment\'s DEPLOYMENT_SUFFIX output: names its roles here, as in its own subscription.')
param deploymentSuffix string

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

@description('Resource id of the action group the alerts notify: output ALERT_ACTION_GROUP_ID (empty: none).')
param alertActionGroupId string = ''

@description('Name of the subscription\'s existing system topic (az eventgrid system-topic list, source /subscriptions/<id>): add the event subscription to it. It must carry the events identity (docs/deploy.md). Empty: create one.')
param existingSystemTopicName string = ''

@description('Resource group of that existing system topic.')
param existingSystemTopicResourceGroup string = ''

@description('Resource group created in this subscription for a system topic of the service\'s own.')
param resourceGroupName string = 'rg-argoboot-events'

@description('Region of that resource group (the system topic itself is global).')
param location string = deployment().location

var tags = {
  'azd-env-name': environmentName
  application: 'argoboot'
}
var reuseTopic = !empty(existingSystemTopicName)
var ownTopic = subscribeClusterEvents && !reuseTopic

// The definitions here; their assignment once they have replicated: infra/scripts/assign-bootstrapper-role.sh.
module role 'modules/bootstrapper-role.bicep' = {
  name: 'role-${deploymentSuffix}'
  params: {
    roleKey: deploymentSuffix
    enableWorkloadIdentityOnClusters: enableWorkloadIdentityOnClusters
  }
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = if (ownTopic) {
  name: resourceGroupName
  location: location
  tags: tags
}

module clusterEvents 'modules/cluster-events.bicep' = if (subscribeClusterEvents) {
  name: 'events-${deploymentSuffix}'
  scope: resourceGroup(reuseTopic ? existingSystemTopicResourceGroup : resourceGroupName)
  dependsOn: [
    rg
  ]
  params: {
    tags: tags
    systemTopicName: reuseTopic ? existingSystemTopicName : 'evgt-argoboot-${uniqueString(subscription().id, functionAppId)}'
    reuseExistingTopic: reuseTopic
    eventSubscriptionName: 'argoboot-${environmentName}'
    functionAppId: functionAppId
    eventsIdentityId: eventsIdentityId
    deadLetterStorageAccountId: deadLetterStorageAccountId
    deadLetterContainerName: deadLetterContainerName
    alertActionGroupId: alertActionGroupId
  }
}

output roleDefinitionId string = role.outputs.roleDefinitionId
output identityRoleDefinitionId string = role.outputs.identityRoleDefinitionId
