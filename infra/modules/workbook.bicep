// The operators' Azure Monitor workbook (infra/workbook.json): bootstraps over time by outcome, the top error codes
// with their clusters, notice latency and install duration percentiles, dead letters, sweeps. Its queries read the
// structured records of shared/pipeline/outcome_record.py (tests/e2e/test_operations.py checks the fields).
param location string
param tags object
param displayName string = 'argoboot operations'
@description('Resource id of the Application Insights component the app writes to: the workbook\'s data source.')
param applicationInsightsId string
@description('Resource id of the Service Bus namespace: the dead-letter chart.')
param serviceBusNamespaceId string

var content = replace(replace(loadTextContent('../workbook.json'), '__APPLICATION_INSIGHTS_ID__', applicationInsightsId), '__SERVICE_BUS_NAMESPACE_ID__', serviceBusNamespaceId)

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, applicationInsightsId, 'argoboot-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: content
  }
}

output id string = workbook.id
