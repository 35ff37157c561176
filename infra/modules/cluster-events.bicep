// The subscription's Event Grid system topic and its subscription to the cluster_events function: only successful
// writes and deletes of AKS and Arc clusters (the handler ignores the rest anyway; this keeps it from being called).
// Deployed by main.bicep for the service's subscription, by onboard-subscription.bicep for the others, and by the
// azd postdeploy hook (Event Grid refuses a function endpoint that is not deployed yet).
// Azure allows one system topic per source: where the subscription has one already, deploy this into that topic's
// resource group with its name and reuseExistingTopic=true (the hook does), and only the event subscription is added.
param tags object = {}
param systemTopicName string
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
  name: '${systemTopicName}/argoboot-cluster-events'
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

// Events Event Grid gave up on (24 h of retries) land as blobs in the dead-letter container: each is a cluster write
// or delete the service never saw (the sweep still catches writes). docs/deploy.md: Alerts.
resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${systemTopicName}-argoboot-dead-letters'
  location: 'global'
  tags: tags
  dependsOn: [
    toFunction
  ]
  properties: {
    description: 'Cluster events dead-lettered into ${deadLetterContainerName}. docs/deploy.md: Alerts.'
    severity: 2
    enabled: true
    scopes: [
      resourceId('Microsoft.EventGrid/systemTopics', systemTopicName)
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'deadLettered'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          dimensions: [
            {
              name: 'EventSubscriptionName'
              operator: 'Include'
              // Event Grid reports event subscription names upper-cased in its metrics.
              values: [
                'argoboot-cluster-events'
                'ARGOBOOT-CLUSTER-EVENTS'
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

output systemTopicId string = resourceId('Microsoft.EventGrid/systemTopics', systemTopicName)
