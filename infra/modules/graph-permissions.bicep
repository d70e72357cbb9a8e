// Microsoft Graph application permissions of the sync (docs/sds-behaviour.md section 5), granted to
// the managed identity's service principal as app role assignments on the Microsoft Graph service
// principal. No client secret or certificate exists anywhere. The deploying user needs a directory role
// that may grant Graph app roles (Privileged Role Administrator or Global Administrator); districts that
// grant consent separately switch this module off with grantGraphPermissions=false in main.bicep.
extension microsoftGraphV1

@description('Object id of the managed identity\'s service principal that receives the permissions.')
param principalId string

@description('Values of the Microsoft Graph application permissions (app roles) to grant.')
param permissions array = [
  'EduRoster.ReadWrite.All'
  'User.ReadWrite.All'
  'Group.ReadWrite.All'
  'AdministrativeUnit.ReadWrite.All'
  'LicenseAssignment.ReadWrite.All'
]

// The Microsoft Graph service principal has the same appId in every tenant.
var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'

resource microsoftGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: microsoftGraphAppId
}

// Each permission's app role id is looked up by its value, so no GUID is copied by hand.
resource appRoleAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for permission in permissions: {
  appRoleId: filter(microsoftGraph.appRoles, role => role.value == permission)[0].id
  principalId: principalId
  resourceId: microsoftGraph.id
}]

@description('The permissions granted.')
output grantedPermissions array = permissions
