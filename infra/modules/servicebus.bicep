// The request queue (and a default reply queue), reached only with Entra ID: no SAS rules, local auth off.
param location string
param tags object
param name string
param installQueueName string
param repliesQueueName string
param appPrincipalId string
@description('Optional: a person or group that may send requests and read replies and dead letters. Empty: nobody.')
param operatorPrincipalId string = ''
param operatorPrincipalType string = 'User'

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

// One session per cluster (session id = lower-cased cluster id); message ids are deterministic, so duplicates
// from Event Grid retries and repeated requests are dropped. Lock 5 min = host.json maxAutoLockRenewalDuration.
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

// Where replies go when a sender names it in ReplyTo; senders may use any queue of this namespace instead.
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

// Azure Service Bus Data Owner on the request queue only: the trigger receives from it and the app schedules
// continuations on it, and target-based scaling needs Manage on it too (the scale controller reads the queue's
// message count with the app's identity; with Receiver + Sender only, the platform cannot see the backlog and a
// session queue does not scale out). Owner on this one queue, not the namespace: nothing else is managed.
resource appQueueAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(installQueue.id, appPrincipalId, dataOwner)
  scope: installQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Data Sender on the namespace: replies go to whatever queue of the namespace a sender names in ReplyTo.
resource appReplyAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, appPrincipalId, dataSender)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in (empty(operatorPrincipalId) ? [] : [dataReceiver, dataSender]): {
    name: guid(namespace.id, operatorPrincipalId, roleId)
    scope: namespace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: operatorPrincipalId
      principalType: operatorPrincipalType
    }
  }
]

output name string = namespace.name
output id string = namespace.id
output installQueueName string = installQueue.name
// https://<name>.servicebus.windows.net:443/ -> <name>.servicebus.windows.net (whatever the cloud's suffix)
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
