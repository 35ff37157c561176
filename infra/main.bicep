// argoboot: everything the service runs on, in one subscription-scoped deployment.
//   azd up                                   (azure.yaml; parameters from main.parameters.json)
//   az deployment sub create -l <region> -f infra/main.bicep -p environmentName=<name> location=<region>   (docs/deploy.md)
// Creates a resource group with the function app (Flex Consumption, Python 3.11), its user-assigned identity,
// storage (host + ledger tables), Service Bus (request queue), Application Insights with alerts and a workbook, and in
// this subscription this environment's custom roles and the Event Grid subscription for cluster events on the service's
// own topic (the roles' assignments, the event subscription on the first run, and on another team's topic always, come
// from the azd hooks). Everything it deploys is in its own resource group or at subscription scope, never in a group
// it does not create: `azd down` deletes every group the deployment touched. Other subscriptions: onboard-subscription.bicep.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the environment (azd env name); names and tags derive from it.')
param environmentName string

@minLength(1)
@description('Region for the resources; it must offer the Flex Consumption plan.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create or reuse; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Comma-separated ids of other subscriptions the service may act on, each onboarded with onboard-subscription.bicep. This subscription is always included.')
param otherSubscriptions string = ''

@description('Comma-separated <subscription>/<resource group> pairs: limits those subscriptions to those groups (ALLOWED_RESOURCE_GROUPS). Empty: every group.')
param allowedResourceGroups string = ''

@description('Profile for events and for requests that name none (DEFAULT_PROFILE).')
param defaultProfile string = 'default'

@description('Resource group for the per-cluster Argo CD identities (IDENTITY_RESOURCE_GROUP): a name (that group in each allowed subscription), a resource group id, or <subscription>=<group> entries. Empty (the default): rg-<environmentName>-argocd-identities. The postprovision hook creates it in each subscription if missing (never this deployment: `azd down` would delete it, and with it the identities every cluster\'s Argo CD signs in with) and assigns the identity role there only.')
param identityResourceGroup string = ''

@description('Explicit opt-out of the identity group: each cluster\'s identity in the cluster\'s own group (IDENTITY_RESOURCE_GROUP unset), and the identity role (create, federate, delete managed identities) on the whole subscription; the postprovision hook warns.')
param identitiesInClusterGroups bool = false

@description('The tag a cluster opts out (or in) with (OPT_TAG).')
param optTag string = 'argoboot'

@allowed([
  'in'
  'out'
])
@description('in: clusters are bootstrapped unless tagged off; out: only clusters tagged on (OPT_DEFAULT).')
param optDefault string = 'in'

@description('NCRONTAB schedule of the sweep that re-queues clusters that are not converged (SWEEP_SCHEDULE).')
param sweepSchedule string = '0 */30 * * * *'

@description('The request queue (INSTALL_QUEUE_NAME).')
param installQueueName string = 'install-requests'

@description('The internal work queue only the app sends to (WORK_QUEUE_NAME).')
param workQueueName string = 'argoboot-work'

@description('A reply queue that senders may name in ReplyTo.')
param repliesQueueName string = 'replies'

@description('Other existing queues of the namespace replies may go to (with repliesQueueName: ALLOWED_REPLY_ENTITIES).')
param replyEntityNames array = []

@description('Principal ids of the services that may post install requests (Data Sender on the request queue only).')
param requestSenderPrincipalIds array = []

@description('Optional: group ids that may send rollout actions to the internal work queue (Data Sender on it only).')
param rolloutOperatorPrincipalIds array = []

@minLength(1)
@maxLength(50)
@description('Prefix of the ledger tables <prefix>clusters and <prefix>requests: letters and digits, starting with a letter.')
param ledgerTablePrefix string = 'argoboot'

@description('Subscribe the cluster_events function to this subscription\'s cluster events. Event Grid checks that the function exists, so the first deployment (before the code is published) sets false; azd\'s postdeploy hook turns it on (the service\'s own topic only), the predown hook off.')
param subscribeClusterEvents bool = false

@description('Let the app turn on the OIDC issuer and workload identity of AKS clusters itself (profiles with workloadIdentity.enableOnCluster: true). Adds managedClusters/write and userAssignedIdentities/assign/action to its role; off, those profiles fail with the command to run instead.')
param enableWorkloadIdentityOnClusters bool = false

@description('Optional: object id of a person or group who may send requests, read replies and dead letters (Service Bus Data Sender and Receiver) and read the ledger (Storage Table Data Reader).')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('Optional: resource id of an existing Azure Monitor action group the alerts notify (ARGOBOOT_ALERT_ACTION_GROUP_ID).')
param alertActionGroupId string = ''

@description('Optional: an e-mail address the alerts notify (ARGOBOOT_ALERT_EMAIL), through an action group created for it, unless alertActionGroupId is given. Both empty: the alerts fire in the portal only.')
param alertEmail string = ''

@minValue(1)
@description('Failed runs in an hour that raise the failed-runs alert.')
param failedRunsPerHourThreshold int = 5

@minValue(5)
@maxValue(1440)
@description('Minutes between sweeps, as sweepSchedule says: the no-sweep alert fires when none succeeded in twice that.')
param sweepIntervalMinutes int = 30

@minValue(40)
@maxValue(1000)
@description('Flex Consumption scale-out limit.')
param maximumInstanceCount int = 40

@description('Longest gap between checks of a registering provider: the poll schedule doubles its gaps from 0.5 s up to it (PROVIDER_POLL_SECONDS).')
param providerPollSeconds int = 10
@description('Longest gap between checks of a cluster still creating (CLUSTER_POLL_SECONDS).')
param clusterPollSeconds int = 15
@description('Longest gap between checks of an install in progress: the poll schedule doubles its gaps from 0.5 s up to it (EXTENSION_POLL_SECONDS).')
param extensionPollSeconds int = 15
@description('Seconds an instance trusts a provider it saw Registered (PROVIDER_CACHE_SECONDS).')
param providerCacheSeconds int = 3600
@description('Checks before a wait is declared failed (MAX_WAIT_POLLS).')
param maxWaitPolls int = 240
@description('Longest gap between retries of Azure\'s identity races (IDENTITY_RETRY_SECONDS).')
param identityRetrySeconds int = 10
@description('Installs of a failing extension before it is reported failed (MAX_INSTALL_ATTEMPTS).')
param maxInstallAttempts int = 3
@description('How long a provider may stay Registering (PROVIDER_REGISTRATION_TIMEOUT_SECONDS).')
param providerRegistrationTimeoutSeconds int = 1200
@description('The sweep re-queues a cluster whose wait has not moved for this long (STUCK_AFTER_SECONDS).')
param stuckAfterSeconds int = 3600
@description('Client-side pacing of ARM reads per subscription and instance, <burst>/<per second> or off (ARM_PACE_READS).')
param armPaceReads string = '250/25'
@description('Pacing of ARM writes per subscription and instance (ARM_PACE_WRITES).')
param armPaceWrites string = '200/10'
@description('Pacing of ARM deletes per subscription and instance (ARM_PACE_DELETES).')
param armPaceDeletes string = '200/10'
@description('Pacing of identity creates per subscription and instance; with several instances, give each its share (ARM_PACE_IDENTITY_CREATES).')
param armPaceIdentityCreates string = '10/2'
@description('Longest pacing wait slept in the handler; longer ones become a scheduled continuation (ARM_PACE_MAX_SLEEP_SECONDS).')
param armPaceMaxSleepSeconds int = 2
@minValue(1)
@description('Days request rows are kept in the ledger before the daily purge (REQUEST_RETENTION_DAYS).')
param requestRetentionDays int = 30

@description('Client id of the status API app registration (infra/scripts/create-status-api-app.sh); empty: the status API takes function keys only')
param statusApiClientId string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
// Subscription-scope deployments are named per environment and region: one name deployed from two regions fails
// InvalidDeploymentLocation, and a shared name lets one environment overwrite another's (at most 64 characters).
var deploymentSuffix = '${take(environmentName, 32)}-${resourceToken}'
// The event subscription carries the environment too: two environments on one system topic keep one each.
var eventSubscriptionName = 'argoboot-${environmentName}'
var tags = {
  'azd-env-name': environmentName
  application: 'argoboot'
}
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'cluster-events-deadletter'
// The identity group this environment's app setting names: its own per environment (and, a plain name, per subscription).
var identityGroup = identitiesInClusterGroups ? '' : (empty(trim(identityResourceGroup)) ? 'rg-${environmentName}-argocd-identities' : trim(identityResourceGroup))
var allowedSubscriptions = empty(trim(otherSubscriptions)) ? subscription().subscriptionId : '${subscription().subscriptionId},${replace(trim(otherSubscriptions), ' ', '')}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identities 'modules/identity.bicep' = {
  name: 'identities'
  scope: rg
  params: {
    location: location
    tags: tags
    appIdentityName: 'id-argoboot-${resourceToken}'
    eventsIdentityName: 'id-argoboot-events-${resourceToken}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-argoboot-${resourceToken}'
    applicationInsightsName: 'appi-argoboot-${resourceToken}'
    appPrincipalId: identities.outputs.appPrincipalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'st${resourceToken}'
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
    ledgerTablePrefix: ledgerTablePrefix
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    appPrincipalId: identities.outputs.appPrincipalId
    eventsPrincipalId: identities.outputs.eventsPrincipalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'sb-argoboot-${resourceToken}'
    installQueueName: installQueueName
    workQueueName: workQueueName
    repliesQueueName: repliesQueueName
    replyEntityNames: replyEntityNames
    requestSenderPrincipalIds: requestSenderPrincipalIds
    rolloutOperatorPrincipalIds: rolloutOperatorPrincipalIds
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    appPrincipalId: identities.outputs.appPrincipalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
  }
}

module app 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    location: location
    tags: tags
    planName: 'plan-argoboot-${resourceToken}'
    name: 'func-argoboot-${resourceToken}'
    identityId: identities.outputs.appIdentityId
    identityClientId: identities.outputs.appClientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${deploymentContainerName}'
    ledgerTableEndpoint: storage.outputs.tableEndpoint
    ledgerTablePrefix: ledgerTablePrefix
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    installQueueName: installQueueName
    workQueueName: workQueueName
    allowedReplyEntities: serviceBus.outputs.allowedReplyEntities
    allowedSubscriptions: allowedSubscriptions
    allowedResourceGroups: allowedResourceGroups
    defaultProfile: defaultProfile
    identityResourceGroup: identityGroup
    optTag: optTag
    optDefault: optDefault
    sweepSchedule: sweepSchedule
    statusApiRole: empty(statusApiClientId) ? '' : 'Status.Read'
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    maximumInstanceCount: maximumInstanceCount
    tuning: {
      providerPollSeconds: providerPollSeconds
      clusterPollSeconds: clusterPollSeconds
      extensionPollSeconds: extensionPollSeconds
      providerCacheSeconds: providerCacheSeconds
      maxWaitPolls: maxWaitPolls
      identityRetrySeconds: identityRetrySeconds
      maxInstallAttempts: maxInstallAttempts
      providerRegistrationTimeoutSeconds: providerRegistrationTimeoutSeconds
      stuckAfterSeconds: stuckAfterSeconds
      requestRetentionDays: requestRetentionDays
      armPaceReads: armPaceReads
      armPaceWrites: armPaceWrites
      armPaceDeletes: armPaceDeletes
      armPaceIdentityCreates: armPaceIdentityCreates
      armPaceMaxSleepSeconds: armPaceMaxSleepSeconds
    }
  }
}

// The status API behind Entra ID (App Service authentication, the Status.Read app role).
module statusAuth 'modules/status-auth.bicep' = if (!empty(statusApiClientId)) {
  name: 'status-auth'
  scope: rg
  params: {
    siteName: app.outputs.name
    clientId: statusApiClientId
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    namePrefix: 'argoboot-${resourceToken}'
    applicationInsightsId: monitoring.outputs.id
    serviceBusNamespaceId: serviceBus.outputs.id
    installQueueName: installQueueName
    workQueueName: workQueueName
    actionGroupId: alertActionGroupId
    alertEmail: alertEmail
    failedRunsPerHourThreshold: failedRunsPerHourThreshold
    sweepIntervalMinutes: sweepIntervalMinutes
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.id
    serviceBusNamespaceId: serviceBus.outputs.id
  }
}

// The app's custom roles in this subscription, this environment's own (other subscriptions:
// onboard-subscription.bicep). Their assignments are a deployment of their own, once the definitions have
// replicated: infra/scripts/assign-bootstrapper-role.sh (postprovision).
module role 'modules/bootstrapper-role.bicep' = {
  name: 'role-${deploymentSuffix}'
  params: {
    roleKey: deploymentSuffix
    enableWorkloadIdentityOnClusters: enableWorkloadIdentityOnClusters
  }
}

// Only the service's own topic, in its own resource group. Where the subscription has a system topic already (another
// team's), the postdeploy hook adds the event subscription to it with a deployment of its own: a module here would
// make `azd down` delete that team's resource group (azd deletes every group the deployment touched).
module clusterEvents 'modules/cluster-events.bicep' = if (subscribeClusterEvents) {
  name: 'cluster-events'
  scope: rg
  params: {
    tags: tags
    systemTopicName: 'evgt-argoboot-${resourceToken}'
    eventSubscriptionName: eventSubscriptionName
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    functionAppId: app.outputs.id
    eventsIdentityId: identities.outputs.eventsIdentityId
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
    alertActionGroupId: alerts.outputs.actionGroupId
  }
}

// azd keeps these in the environment (.azure/<env>/.env); the postdeploy hook and docs/deploy.md use them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
output AZURE_FUNCTION_APP_ID string = app.outputs.id
output APP_PRINCIPAL_ID string = identities.outputs.appPrincipalId
output EVENTS_IDENTITY_ID string = identities.outputs.eventsIdentityId
output SYSTEM_TOPIC_NAME string = 'evgt-argoboot-${resourceToken}'
output STORAGE_ACCOUNT_ID string = storage.outputs.id
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output DEAD_LETTER_CONTAINER string = deadLetterContainerName
output SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output INSTALL_QUEUE_NAME string = installQueueName
output REPLIES_QUEUE_NAME string = repliesQueueName
output LEDGER_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output ALLOWED_SUBSCRIPTIONS string = allowedSubscriptions
output ALERT_ACTION_GROUP_ID string = alerts.outputs.actionGroupId
output LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.workspaceId
output DEPLOYMENT_SUFFIX string = deploymentSuffix
output EVENT_SUBSCRIPTION_NAME string = eventSubscriptionName
output ROLE_DEFINITION_ID string = role.outputs.roleDefinitionId
output IDENTITY_ROLE_DEFINITION_ID string = role.outputs.identityRoleDefinitionId
output IDENTITY_RESOURCE_GROUP string = identityGroup
