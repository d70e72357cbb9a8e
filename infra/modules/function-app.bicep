// The sync's Function App on the Flex Consumption plan (FC1, Linux, Python 3.11). It runs as the
// user-assigned identity and reaches storage, Application Insights and Microsoft Graph with Entra ID
// tokens only: the app settings hold service URIs and client ids, never a key or a connection string
// with a secret in it. Basic (FTP/SCM) publishing credentials are disabled; azd deploys with Entra ID.

@description('Name of the Function App (globally unique host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to the plan and the app; the app also gets azd-service-name.')
param tags object = {}

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Name of the storage account used by the runtime, Durable Functions and the sync.')
param storageAccountName string

@description('Blob service endpoint of the storage account, ending with a slash.')
param blobEndpoint string

@description('Queue service endpoint of the storage account, ending with a slash.')
param queueEndpoint string

@description('Table service endpoint of the storage account, ending with a slash.')
param tableEndpoint string

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('Application Insights connection string (ingestion endpoint; not a credential with local auth off).')
param applicationInsightsConnectionString string

@description('Settings of the sync itself (SYNC_SCHEDULE, SYNC_PROFILE_BLOB, containers, table, wait time).')
param syncSettings object

@description('Durable Functions task hub name (host.json reads it as %DURABLE_TASK_HUB%); 3-45 letters and digits.')
@minLength(3)
@maxLength(45)
param durableTaskHubName string = 'SyncHub'

@description('Upper bound of instances the plan may scale out to (Flex Consumption allows 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// Identity-based connections for the Functions host, Durable Functions and the blob trigger
// (https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity).
var runtimeSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
  DURABLE_TASK_HUB: durableTaskHubName
  AZURE_CLIENT_ID: identityClientId
  AZURE_STORAGE_ACCOUNT_NAME: storageAccountName
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

var appSettings = [for setting in items(union(runtimeSettings, syncSettings)): {
  name: setting.key
  value: setting.value
}]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: a nightly, idempotent batch sync tolerates a zone outage by running again; zone redundancy would restrict regions and require ZRS storage
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the Event Grid blob-trigger webhook and the run/approve HTTP endpoints must be reachable; each call needs a function or system key
  // checkov:skip=CKV_AZURE_17: callers are Event Grid and the admin's scripts, which cannot present client certificates
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero; always-ready instances would bill around the clock for a nightly job
  // checkov:skip=CKV_AZURE_213: the app serves no web traffic to balance; Flex Consumption replaces unhealthy instances itself
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'sync' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: appSettings
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

@description('Name of the Function App.')
output name string = functionApp.name

@description('Default host name of the Function App.')
output defaultHostName string = functionApp.properties.defaultHostName
