// Everything a district needs to run the sync in its own subscription (`azd up`): a resource group with
// the storage account, the Flex Consumption Function App and its user-assigned identity, monitoring with a
// "Sync runs" workbook, the upload event topic, least-privilege role assignments, and (optionally) the
// Microsoft Graph application permissions. No keys or secrets: every connection uses Entra ID.
targetScope = 'subscription'

@description('Name of the azd environment (e.g. contoso-sds-prod); it names the resource group and seeds the resource names.')
@minLength(1)
@maxLength(40)
param environmentName string

@description('Azure region of every resource; pick one that offers Flex Consumption.')
@minLength(1)
param location string

@description('Name of the resource group to create; empty for rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the admin (user or group) allowed to upload the profile and file sets and read reports; azd passes the signed-in user. Empty for none.')
param uploaderPrincipalId string = ''

@description('Type of uploaderPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param uploaderPrincipalType string = 'User'

@description('NCRONTAB schedule of the nightly sync (second minute hour day month weekday), in UTC: Flex Consumption on Linux has no WEBSITE_TIME_ZONE. 02:00 in New York (UTC-5, UTC-4 in summer) is 0 0 7 * * *.')
param syncSchedule string = '0 0 2 * * *'

@description('Where the sync profile TOML lives, as <container>/<path>; upload it there after deployment.')
param syncProfileBlob string = 'config/profile.toml'

@description('Minutes a partially uploaded file set may wait for its other files before the run reports missing_file.')
@minValue(1)
@maxValue(1440)
param setWaitMinutes int = 60

@description('Hours a run held by the deletion guard waits for an approval before it ends unapplied.')
@minValue(1)
@maxValue(168)
param approvalTimeoutHours int = 72

@description('Share of the Graph write quota (20 writes/s per app and tenant) the sync may use; lower it if other apps write to the same tenant.')
@allowed([
  '0.25'
  '0.5'
  '0.75'
  '1'
])
param graphQuotaShare string = '1'

@description('Grant the Microsoft Graph application permissions to the sync identity during deployment (needs Privileged Role Administrator or Global Administrator). Set false when consent is granted separately.')
param grantGraphPermissions bool = true

@description('Replication of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSkuName string = 'Standard_GRS'

@description('Days logs and telemetry are kept.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 90

@description('Upper bound of Function App instances (Flex Consumption: 40 to 1000); the Graph quota, not compute, limits a sync.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each Function App instance, in MB. Planning holds the roster and the directory snapshot: 2048 suits districts up to about 100,000 students, 4096 up to about 400,000 (docs/deployment.md, "Sizing").')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Whether a run whose plan would not fit in an instance\'s memory fails before planning (on), or plans anyway (off): docs/deployment.md, "Sizing".')
@allowed([
  'on'
  'off'
])
param memoryCheck string = 'on'

// Blob containers and tables of the sync; their names are also the app settings below. There is no runs
// container: each run's files go to the reports container under runs/<run id>/ (sync/app/run_files.py), and
// run records to the table runs.
var uploadContainer = 'uploads'
var reportsContainer = 'reports'
var deploymentContainer = 'deployments'
var runsTable = 'runs'
var profileContainer = split(syncProfileBlob, '/')[0]

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'clever-sds-sync'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-sync-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stsync${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    containerNames: union([
      uploadContainer
      reportsContainer
      deploymentContainer
    ], [
      profileContainer
    ])
    tableNames: [
      runsTable
    ]
  }
}

module storageAccess 'modules/storage-access.bicep' = {
  name: 'storage-access'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    principalId: identity.outputs.principalId
    uploaderPrincipalId: uploaderPrincipalId
    uploaderPrincipalType: uploaderPrincipalType
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-sync-${resourceToken}'
    applicationInsightsName: 'appi-sync-${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionDays
    publisherPrincipalId: identity.outputs.principalId
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
  }
}

module uploadEvents 'modules/upload-events.bicep' = {
  name: 'upload-events'
  scope: rg
  params: {
    name: 'evgt-sync-${resourceToken}'
    location: location
    tags: tags
    storageAccountId: storage.outputs.id
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: 'func-sync-${resourceToken}'
    planName: 'plan-sync-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainer
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    syncSettings: {
      SYNC_SCHEDULE: syncSchedule
      SYNC_PROFILE_BLOB: syncProfileBlob
      SYNC_TENANT: 'graph'
      UPLOAD_CONTAINER: uploadContainer
      REPORTS_CONTAINER: reportsContainer
      RUNS_TABLE: runsTable
      SET_WAIT_MINUTES: string(setWaitMinutes)
      APPROVAL_TIMEOUT_HOURS: string(approvalTimeoutHours)
      GRAPH_QUOTA_SCALE: graphQuotaShare
      SYNC_MEMORY_CHECK: memoryCheck
    }
  }
  // The app starts with roles already in place, so the host's first storage call succeeds.
  dependsOn: [
    storageAccess
  ]
}

module graphPermissions 'modules/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'graph-permissions'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
  }
  // Last, so the identity's service principal (created by the identity module first) has had a minute or more
  // to replicate in Entra ID: a Graph app role assigned to a service principal seconds old can fail with
  // "Not a valid reference update" (docs/deployment.md, Troubleshooting; `azd provision` again fixes it).
  dependsOn: [
    functionApp
  ]
}

@description('Resource group holding everything.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('Name of the Function App.')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('Name of the storage account.')
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name

@description('URL of the container where file sets are dropped (one folder per set).')
output UPLOAD_CONTAINER_URL string = '${storage.outputs.blobEndpoint}${uploadContainer}'

@description('Name of the upload container; the post-deploy hook subscribes the blob trigger to its BlobCreated events.')
output UPLOAD_CONTAINER string = uploadContainer

@description('Blob path of the sync profile, <container>/<path>.')
output SYNC_PROFILE_BLOB string = syncProfileBlob

@description('Name of the Event Grid system topic the post-deploy hook subscribes the blob trigger to.')
output UPLOAD_EVENTS_TOPIC string = uploadEvents.outputs.name

@description('Client id of the sync identity (look it up under Enterprise applications to review its Graph permissions).')
output AZURE_CLIENT_ID string = identity.outputs.clientId
