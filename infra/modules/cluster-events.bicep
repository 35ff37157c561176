// The subscription's Event Grid system topic and its subscription to the cluster_events function: only successful
// writes and deletes of AKS and Arc clusters (the handler ignores the rest anyway; this keeps it from being called).
// Deployed by main.bicep for the service's subscription, by onboard-subscription.bicep for the others, and by the
// azd postdeploy hook (Event Grid refuses a function endpoint that is not deployed yet).
param tags object = {}
param systemTopicName string
@description('Resource id of the function app (Microsoft.Web/sites); events go to its cluster_events function.')
param functionAppId string
@description('Resource id of the user-assigned identity Event Grid dead-letters with.')
param eventsIdentityId string
param deadLetterStorageAccountId string
param deadLetterContainerName string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
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

resource toFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'argoboot-cluster-events'
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

output systemTopicId string = topic.id
