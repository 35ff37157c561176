// The subscription's Event Grid system topic and its subscription to the cluster_events function: only successful
// writes and deletes of AKS and Arc clusters (the handler ignores the rest anyway; this keeps it from being called).
// Deployed by main.bicep for the service's subscription, by onboard-subscription.bicep for the others, and by the
// azd postdeploy hook (Event Grid refuses a function endpoint that is not deployed yet).
// Azure allows one system topic per source: where the subscription has one already, deploy this into that topic's
// resource group with its name and reuseExistingTopic=true (the hook does), and only the event subscription is added.
param tags object = {}
param systemTopicName string
@description('Name of the event subscription: argoboot-<environment> (main.bicep output EVENT_SUBSCRIPTION_NAME), so two environments on one topic keep one each.')
param eventSubscriptionName string = 'argoboot-cluster-events'
@description('Resource id of the Log Analytics workspace the service\'s own topic sends its delivery logs to; empty, or a reused topic (another team\'s settings): none.')
param logAnalyticsWorkspaceId string = ''
@description('The subscription already has a system topic (this name, in this resource group): add the event subscription to it instead of creating one. It must carry the events identity (the hook adds it).')
param reuseExistingTopic bool = false
@description('Resource id of the function app (Microsoft.Web/sites); events go to its cluster_events function.')
param functionAppId string
@description('Resource id of the user-assigned identity Event Grid dead-letters with.')
param eventsIdentityId string
param deadLetterStorageAccountId string
param deadLetterContainerName string
@description('Resource id of an action group the dead-letter alert notifies; empty: it fires in the portal only.')
param alertActionGroupId string = ''

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (!reuseExistingTopic) {
  name: systemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventsIdentityId}': {}
    }
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

// Named through the topic (not `parent:`), so the same declaration adds to a new topic or to the reused one.
resource toFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  name: '${systemTopicName}/${eventSubscriptionName}'
  dependsOn: [
    topic // when it is created here; a reused topic exists already
  ]
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/cluster_events'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
      ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: [
            'Microsoft.ContainerService/managedClusters/write'
            'Microsoft.ContainerService/managedClusters/delete'
            'Microsoft.Kubernetes/connectedClusters/write'
            'Microsoft.Kubernetes/connectedClusters/delete'
          ]
        }
      ]
    }
    // Event Grid's own schedule (10 s, 30 s, 1 min, ... 12 h) for a day; the handler only enqueues, so a failure
    // means Service Bus or the app is down. After that the event is kept in blob storage.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: eventsIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

// What tells an operator events do not arrive (docs/deploy.md: Alerts). Dead letters come a day after the first
// failure (30 attempts over 1440 minutes), and never if the dead-letter write fails; failed delivery attempts and
// dropped events show a broken endpoint within minutes. One alert each: the criteria of one alert must all hold.
var deliveryAlerts = [
  {
    name: 'dead-letters'
    metric: 'DeadLetteredCount'
    description: 'Cluster events dead-lettered into ${deadLetterContainerName}: Event Grid gave up after a day of retries.'
    severity: 2
    frequency: 'PT15M'
    window: 'PT1H'
  }
  {
    name: 'delivery-failures'
    metric: 'DeliveryAttemptFailCount'
    description: 'Event Grid could not deliver cluster events to cluster_events (the app down, the function missing, 401): it keeps retrying for a day, then dead-letters.'
    severity: 1
    frequency: 'PT5M'
    window: 'PT15M'
  }
  {
    name: 'dropped-events'
    metric: 'DroppedEventCount'
    description: 'Event Grid dropped cluster events it could neither deliver nor dead-letter: those cluster writes reach the service only through the sweep.'
    severity: 1
    frequency: 'PT5M'
    window: 'PT15M'
  }
]

resource deliveryAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for alert in deliveryAlerts: {
    name: '${systemTopicName}-${eventSubscriptionName}-${alert.name}'
    location: 'global'
    tags: tags
    dependsOn: [
      toFunction
    ]
    properties: {
      description: '${alert.description} docs/deploy.md: Alerts.'
      severity: alert.severity
      enabled: true
      scopes: [
        resourceId('Microsoft.EventGrid/systemTopics', systemTopicName)
      ]
      evaluationFrequency: alert.frequency
      windowSize: alert.window
      autoMitigate: true
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: alert.metric
            metricNamespace: 'Microsoft.EventGrid/systemTopics'
            metricName: alert.metric
            dimensions: [
              {
                name: 'EventSubscriptionName'
                operator: 'Include'
                // Event Grid reports event subscription names upper-cased in its metrics.
                values: [
                  eventSubscriptionName
                  toUpper(eventSubscriptionName)
                ]
              }
            ]
            operator: 'GreaterThan'
            threshold: 0
            timeAggregation: 'Total'
          }
        ]
      }
      actions: empty(alertActionGroupId) ? [] : [
        {
          actionGroupId: alertActionGroupId
        }
      ]
    }
  }
]

// Delivery failures with their reasons, in the service's workspace; only on the service's own topic (a reused one's
// diagnostic settings are its owner's). api-version: Microsoft.Insights/diagnosticSettings 2021-05-01-preview, the
// newest in azure-rest-api-specs (monitor/resource-manager/Microsoft.Insights/preview/2021-05-01-preview).
resource topicDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!reuseExistingTopic && !empty(logAnalyticsWorkspaceId)) {
  name: 'argoboot-logs'
  scope: topic
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

output systemTopicId string = resourceId('Microsoft.EventGrid/systemTopics', systemTopicName)
