// Data-plane roles on the storage account, and nowhere else: the sync identity gets what the Functions
// runtime and Durable Functions need (blobs, queues, tables); the district admin who deploys may get
// Storage Blob Data Contributor to upload the profile and file sets. Names are guid(scope, principal, role),
// so a redeployment finds the same assignments.

@description('Name of the existing storage account the roles are scoped to.')
param storageAccountName string

@description('Object id of the sync\'s managed identity.')
param principalId string

@description('Object id of a user or group allowed to upload the profile and file sets and read reports; empty for none.')
param uploaderPrincipalId string = ''

@description('Type of the uploader principal.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param uploaderPrincipalType string = 'User'

// Built-in role definition ids (the same in every tenant).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

var syncRoles = [
  storageBlobDataOwner
  storageQueueDataContributor
  storageTableDataContributor
]

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource syncRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in syncRoles: {
  name: guid(storageAccount.id, principalId, roleId)
  scope: storageAccount
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
  }
}]

resource uploaderRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(uploaderPrincipalId)) {
  name: guid(storageAccount.id, uploaderPrincipalId, storageBlobDataContributor)
  scope: storageAccount
  properties: {
    principalId: uploaderPrincipalId
    principalType: uploaderPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}
