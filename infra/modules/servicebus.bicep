// Two entities, reached only with Entra ID (no SAS rules, local auth off): the public request queue, where other
// services send (Data Sender on it and nothing else), and the internal work queue, where only the app sends (forwarded
// requests, events, the sweep, continuations), so the authority its messages carry cannot be forged. Plus a default
// reply queue. The app may send to the work queue and the reply entities only, never the whole namespace.
param location string
param tags object
param name string
param installQueueName string
param workQueueName string
param repliesQueueName string
@description('Other existing queues or topics of this namespace replies may go to (ALLOWED_REPLY_ENTITIES).')
param replyEntityNames array = []
param appPrincipalId string
@description('Resource id of the Log Analytics workspace for the namespace\'s logs (dead-letter reasons, throttling, errors).')
param logAnalyticsWorkspaceId string
@description('Services that may post install requests: Azure Service Bus Data Sender on the request queue only.')
param requestSenderPrincipalIds array = []
@description('Optional: a person or group that may send requests and read replies and dead letters. Empty: nobody.')
param operatorPrincipalId string = ''
param operatorPrincipalType string = 'User'
@description('Optional: groups that may send rollout-status|resume|abort to the internal work queue (Data Sender on it). Empty: nobody but the app.')
param rolloutOperatorPrincipalIds array = []

var dataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var dataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var dataOwner = '090c5cfd-751d-490a-894a-3ce6f1109419'

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  // Sessions and duplicate detection need Standard or above.
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// The public request queue: sessions as senders have always set them (a sender's requests on one session stay in
// order); the intake validates each request and forwards it to the work queue, so its lock is short-lived work.
resource installQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: installQueueName
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    maxDeliveryCount: 10
    lockDuration: 'PT5M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}

// The internal work queue: one session per cluster (the id the service derives from the cluster id, whatever the
// sender chose); message ids are deterministic, so duplicates from Event Grid retries and repeated requests are
// dropped. Lock 5 min = host.json maxAutoLockRenewalDuration.
resource workQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: workQueueName
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    maxDeliveryCount: 10
    lockDuration: 'PT5M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}

// Where replies go when a sender names it in ReplyTo; other entities only when listed in replyEntityNames.
resource repliesQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: repliesQueueName
  properties: {
    requiresSession: false
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P7D'
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}

// Azure Service Bus Data Owner on each of the two queues the app's triggers read: it receives there, forwards to and
// schedules continuations on the work queue, and target-based scaling needs Manage too (the scale controller reads
// a queue's message count with the app's identity; with Receiver + Sender only, the platform cannot see the backlog
// and a session queue does not scale out). Owner on these queues, not the namespace: nothing else is managed.
resource appQueueAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(installQueue.id, appPrincipalId, dataOwner)
  scope: installQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appWorkQueueAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workQueue.id, appPrincipalId, dataOwner)
  scope: workQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Data Sender on the reply entities only (ReplyTo is an address, not a right: a reply anywhere else is refused by
// the app, and by Service Bus too). Not on the namespace: no confused deputy sending into other teams' queues.
resource appReplyAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(repliesQueue.id, appPrincipalId, dataSender)
  scope: repliesQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource replyEntities 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' existing = [
  for entity in replyEntityNames: {
    parent: namespace
    name: entity
  }
]

resource appOtherReplyAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (entity, i) in replyEntityNames: {
    name: guid(namespace.id, entity, appPrincipalId, dataSender)
    scope: replyEntities[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Other services: Data Sender on the request queue and nothing else (not the work queue, not the namespace).
resource requestSenderAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in requestSenderPrincipalIds: {
    name: guid(installQueue.id, principalId, dataSender)
    scope: installQueue
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

// The operator reads replies and dead letters anywhere (Receiver on the namespace) and may send requests, on the
// request queue only, like any other sender.
resource operatorAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in (empty(operatorPrincipalId) ? [] : [dataReceiver]): {
    name: guid(namespace.id, operatorPrincipalId, roleId)
    scope: namespace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: operatorPrincipalId
      principalType: operatorPrincipalType
    }
  }
]

resource operatorSendAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in (empty(operatorPrincipalId) ? [] : [dataSender]): {
    name: guid(installQueue.id, operatorPrincipalId, roleId)
    scope: installQueue
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: operatorPrincipalId
      principalType: operatorPrincipalType
    }
  }
]

// Rollout operators: Data Sender on the work queue, the boundary Azure enforces for rollout-resume and -abort (the
// request queue refuses them: anyone with Send there could write one). They can send any work item there too; grant
// it to the platform team only (docs/rollouts.md).
resource rolloutOperatorAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in rolloutOperatorPrincipalIds: {
    name: guid(workQueue.id, principalId, dataSender)
    scope: workQueue
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
      principalId: principalId
      principalType: 'Group'
    }
  }
]

// Operational and runtime logs and the metrics (throttled requests, server errors, dead-lettered counts per queue) in
// the service's workspace. api-version: Microsoft.Insights/diagnosticSettings 2021-05-01-preview, the newest in
// azure-rest-api-specs (monitor/resource-manager/Microsoft.Insights/preview/2021-05-01-preview).
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'argoboot-logs'
  scope: namespace
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output name string = namespace.name
output id string = namespace.id
output installQueueName string = installQueue.name
output workQueueName string = workQueue.name
// ALLOWED_REPLY_ENTITIES: exactly the entities the app may send replies to.
output allowedReplyEntities string = join(concat([repliesQueue.name], replyEntityNames), ',')
// https://<name>.servicebus.windows.net:443/ -> <name>.servicebus.windows.net (whatever the cloud's suffix)
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
