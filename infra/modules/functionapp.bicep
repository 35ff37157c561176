// The function app on the Flex Consumption plan (Python 3.11), running as its user-assigned identity.
// Its app settings are exactly the names the code, the bindings and host.json read
// (tests/infra/test_app_settings.py derives them from the code and compares both ways).
param location string
param tags object
param planName string
param name string
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerUrl string
param ledgerTableEndpoint string
param ledgerTablePrefix string
param serviceBusNamespace string
param installQueueName string
param workQueueName string
param allowedReplyEntities string
param allowedSubscriptions string
param defaultProfile string
param applicationInsightsConnectionString string
param maximumInstanceCount int
@description('Where the per-cluster identities go (IDENTITY_RESOURCE_GROUP); empty: each cluster\'s own group.')
param identityResourceGroup string
param allowedResourceGroups string
param optTag string
param optDefault string
@description('NCRONTAB schedule of the sweep timer (SWEEP_SCHEDULE).')
param sweepSchedule string
@description('Numeric tuning settings, each the code\'s default unless main.bicep is told otherwise.')
param tuning object
@description('App role the status API requires in callers\' tokens (empty: function keys only, e.g. no Entra app yet)')
param statusApiRole string = ''

// The app settings: exactly the names the code, the bindings and host.json read.
var appSettings = {
  // Functions host: storage with the app's identity (no connection string), telemetry with Entra ID.
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identityClientId}'
  // The Service Bus trigger's connection "ServiceBusConnection", identity-based.
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  // DefaultAzureCredential in the code (ARM, Tables, Service Bus sender) uses the same identity.
  AZURE_CLIENT_ID: identityClientId
  // shared/settings.py
  INSTALL_QUEUE_NAME: installQueueName
  WORK_QUEUE_NAME: workQueueName
  ALLOWED_REPLY_ENTITIES: allowedReplyEntities
  ALLOWED_SUBSCRIPTIONS: allowedSubscriptions
  LEDGER_TABLE_ENDPOINT: ledgerTableEndpoint
  LEDGER_TABLE_PREFIX: ledgerTablePrefix
  ALLOWED_RESOURCE_GROUPS: allowedResourceGroups
  DEFAULT_PROFILE: defaultProfile
  IDENTITY_RESOURCE_GROUP: identityResourceGroup
  OPT_TAG: optTag
  OPT_DEFAULT: optDefault
  SWEEP_SCHEDULE: sweepSchedule
  PROVIDER_POLL_SECONDS: string(tuning.providerPollSeconds)
  CLUSTER_POLL_SECONDS: string(tuning.clusterPollSeconds)
  EXTENSION_POLL_SECONDS: string(tuning.extensionPollSeconds)
  PROVIDER_CACHE_SECONDS: string(tuning.providerCacheSeconds)
  MAX_WAIT_POLLS: string(tuning.maxWaitPolls)
  IDENTITY_RETRY_SECONDS: string(tuning.identityRetrySeconds)
  MAX_INSTALL_ATTEMPTS: string(tuning.maxInstallAttempts)
  PROVIDER_REGISTRATION_TIMEOUT_SECONDS: string(tuning.providerRegistrationTimeoutSeconds)
  STUCK_AFTER_SECONDS: string(tuning.stuckAfterSeconds)
  REQUEST_RETENTION_DAYS: string(tuning.requestRetentionDays)
  ARM_PACE_READS: tuning.armPaceReads
  ARM_PACE_WRITES: tuning.armPaceWrites
  ARM_PACE_DELETES: tuning.armPaceDeletes
  ARM_PACE_IDENTITY_CREATES: tuning.armPaceIdentityCreates
  ARM_PACE_MAX_SLEEP_SECONDS: string(tuning.armPaceMaxSleepSeconds)
  // Profiles may name Key Vault secrets under this cloud's vault suffix only (.vault.azure.net in public Azure).
  KEY_VAULT_DNS_SUFFIX: environment().suffixes.keyvaultDns
  STATUS_API_ROLE: statusApiRole
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  //checkov:skip=CKV_AZURE_225:Flex Consumption zone redundancy exists only in some regions; queue and events retry an outage
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'app' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  //checkov:skip=CKV_AZURE_17:Event Grid cannot present client certificates; the read-only status API takes function keys
  //checkov:skip=CKV_AZURE_222:Event Grid must reach cluster_events; the status API needs a function key (add IP rules as needed)
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    // Only what Flex Consumption supports: no ftpsState (Flex has no FTP; ARM refuses the property on FC1 sites),
    // no alwaysOn, runtime versions or scale limits (functionAppConfig holds those). tests/infra/test_flex.py checks.
    //checkov:skip=CKV_AZURE_78:Flex Consumption has no FTP endpoint to disable, and ARM refuses ftpsState on it
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      appSettings: [for setting in items(appSettings): { name: setting.key, value: setting.value }]
    }
    // (checkov skips are spread out: the Bicep parser checkov uses takes at most four comment lines in a row)
    //checkov:skip=CKV_AZURE_212:Flex Consumption scales per function from zero; there are no fixed instances to fail over
    //checkov:skip=CKV_AZURE_213:Flex Consumption has no health-check probe: instances come and go per trigger from zero
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

output id string = site.id
output name string = site.name
