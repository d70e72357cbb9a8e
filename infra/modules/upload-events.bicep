// Event Grid system topic on the storage account. On Flex Consumption the blob trigger must use the Event
// Grid source (the polling blob trigger is not supported), so BlobCreated events of the upload container
// reach the app through this topic. The subscription itself needs the blob extension's webhook key, which
// exists only once the code runs, so infra/hooks/postdeploy.sh creates it after `azd deploy`.

@description('Name of the Event Grid system topic.')
param name string

@description('Azure region of the topic (the storage account\'s region).')
param location string

@description('Tags applied to the topic.')
param tags object = {}

@description('Resource id of the storage account whose blob events are published.')
param storageAccountId string

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    source: storageAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

@description('Name of the system topic.')
output name string = systemTopic.name
