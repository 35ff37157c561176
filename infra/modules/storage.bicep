// One storage account for the Functions host (deployment package, leases), the ledger tables and dead-lettered
// cluster events. Shared keys are off: every client signs in with Entra ID.
param location string
param tags object
param name string
param deploymentContainerName string
param deadLetterContainerName string
@description('Prefix of the ledger tables <prefix>clusters, <prefix>requests and <prefix>rollouts (LEDGER_TABLE_PREFIX).')
param ledgerTablePrefix string
param appPrincipalId string
param eventsPrincipalId string
@description('Resource id of the Log Analytics workspace for the blob and table logs (reads, writes, deletes; throttling).')
param logAnalyticsWorkspaceId string
@description('Optional: a person or group that may read the ledger (Storage Table Data Reader). Empty: nobody.')
param operatorPrincipalId string = ''
param operatorPrincipalType string = 'User'

var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  tableDataReader: '76199698-9eea-4c19-bc75-cec21354c6b6'
}
// The blob containers the Functions host writes (Flex Consumption's package; the host's leases, timer schedules and
// keys) and nothing else: Blob Data Owner on each of them, not on the account, so the app cannot read the dead
// letters or anything added later. No queue role: no trigger or binding of the app uses Storage queues.
// The ledger: Table Data Contributor on the table service (the ledger creates its tables if missing, which table-scoped
// roles do not allow); the account holds no other tables.
var hostContainers = [
  'azure-webjobs-hosts'
  'azure-webjobs-secrets'
]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  //checkov:skip=CKV_AZURE_206:Locally redundant is enough: the ledger is rebuilt by reconciling, the package by redeploying
  //checkov:skip=CKV_AZURE_59:Flex Consumption without a virtual network reaches storage over its public endpoint; Entra ID only
  //checkov:skip=CKV_AZURE_35:Default action Allow for the same reason as CKV_AZURE_59; shared keys are off, so only Entra ID gets in
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// A '<prefix>waits' table made by versions before issue 27 is no longer used; an incremental deployment leaves it.
resource ledgerTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for table in ['clusters', 'requests', 'rollouts']: {  // rollouts: staged profile changes (docs/rollouts.md)
    parent: tables
    name: '${ledgerTablePrefix}${table}'
  }
]

resource hostContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for container in hostContainers: {
    parent: blobs
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

resource appPackageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deploymentContainer.id, appPrincipalId, roles.blobDataOwner)
  scope: deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appHostAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (container, i) in hostContainers: {
    name: guid(hostContainer[i].id, appPrincipalId, roles.blobDataOwner)
    scope: hostContainer[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataOwner)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource appLedgerAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(tables.id, appPrincipalId, roles.tableDataContributor)
  scope: tables
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.tableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Reads, writes, deletes and throttling of the blobs and the ledger, in the service's workspace. api-version:
// Microsoft.Insights/diagnosticSettings 2021-05-01-preview, the newest in azure-rest-api-specs.
resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'argoboot-logs'
  scope: blobs
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
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'argoboot-logs'
  scope: tables
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
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

// Event Grid writes undeliverable events into this one container, nowhere else.
resource eventsDeadLetterAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, eventsPrincipalId, roles.blobDataContributor)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
    principalId: eventsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorLedgerAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(account.id, operatorPrincipalId, roles.tableDataReader)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.tableDataReader)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output tableEndpoint string = account.properties.primaryEndpoints.table
