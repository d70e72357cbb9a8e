// Azure Monitor workbook "Sync runs": state, counts, duration and findings of every run, read from the
// custom event SyncRunCompleted that the app sends once per run. The workbook content is kept as JSON in
// infra/workbooks/sync-runs.json so it can be edited in the Portal and pasted back.

@description('Display name of the workbook in the Portal.')
param displayName string = 'Sync runs'

@description('Azure region of the workbook.')
param location string

@description('Tags applied to the workbook.')
param tags object = {}

@description('Resource id of the Application Insights component the workbook queries.')
param applicationInsightsId string

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // Workbook names must be GUIDs; this one is stable for a given component.
  name: guid(applicationInsightsId, 'sync-runs-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: loadTextContent('../workbooks/sync-runs.json')
    version: 'Notebook/1.0'
  }
}

@description('Resource id of the workbook.')
output id string = workbook.id
