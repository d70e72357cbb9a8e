// User-assigned managed identity of the sync. The Function App runs as this identity: it is the only
// principal that gets data-plane roles on the storage account and the Microsoft Graph application
// permissions, and it outlives the app (redeploying the app keeps its grants).

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region of the identity.')
param location string

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id of the identity.')
output id string = identity.id

@description('Name of the identity.')
output name string = identity.name

@description('Client (application) id, for AZURE_CLIENT_ID and the identity-based connections.')
output clientId string = identity.properties.clientId

@description('Object id of the identity\'s service principal, the principal of every role assignment.')
output principalId string = identity.properties.principalId
