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

// Receive install requests; send continuations, events' requests and replies (to any queue a sender names).
resource appAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in [dataReceiver, dataSender]: {
    name: guid(namespace.id, appPrincipalId, roleId)
    scope: namespace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

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
// https://<name>.servicebus.windows.net:443/ -> <name>.servicebus.windows.net (whatever the cloud's suffix)
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
