#!/bin/sh
# azd post-deploy hook: subscribes the Function App's Event Grid blob trigger to BlobCreated events of the
# upload container. Flex Consumption supports only the Event Grid source for blob triggers, and the webhook
# needs the blob extension's system key, which exists only after the code has been deployed and started,
# so this cannot be done in Bicep. Idempotent: `create` replaces an existing subscription of the same name.
# Needs: az CLI logged in (azd runs it with the azd environment's outputs as environment variables).
set -eu

: "${AZURE_RESOURCE_GROUP:?run through azd (azd deploy / azd up): AZURE_RESOURCE_GROUP is not set}"
: "${AZURE_FUNCTION_APP_NAME:?run through azd: AZURE_FUNCTION_APP_NAME is not set}"
: "${UPLOAD_EVENTS_TOPIC:?run through azd: UPLOAD_EVENTS_TOPIC is not set}"
# An output of main.bicep too; the default covers an environment provisioned before that output existed.
UPLOAD_CONTAINER="${UPLOAD_CONTAINER:-uploads}"
SUBSCRIPTION_NAME="uploads-to-sync"

# The blob-triggered function: the one whose binding is a blobTrigger (name reported as <app>/<function>).
function_name=""
attempt=0
while [ -z "$function_name" ] && [ "$attempt" -lt 10 ]; do
  function_name=$(az functionapp function list -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
    --query "[?config.bindings[?type=='blobTrigger']].name | [0]" -o tsv 2>/dev/null || true)
  function_name=${function_name#*/}
  if [ -z "$function_name" ]; then
    attempt=$((attempt + 1))
    echo "waiting for the app to report its functions ($attempt/10)..."
    sleep 15
  fi
done
if [ -z "$function_name" ]; then
  echo "error: no blob-triggered function found in $AZURE_FUNCTION_APP_NAME; check Function App > Functions, then run 'azd hooks run postdeploy'" >&2
  exit 1
fi

# The key is read into a variable and never printed.
blobs_key=$(az functionapp keys list -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
  --query "systemKeys.blobs_extension" -o tsv)
if [ -z "$blobs_key" ]; then
  echo "error: the blob extension key is not there yet; wait a minute and run 'azd hooks run postdeploy'" >&2
  exit 1
fi
host=$(az functionapp show -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" --query defaultHostName -o tsv)
endpoint="https://${host}/runtime/webhooks/blobs?functionName=Host.Functions.${function_name}&code=${blobs_key}"

az eventgrid system-topic event-subscription create \
  --name "$SUBSCRIPTION_NAME" \
  -g "$AZURE_RESOURCE_GROUP" \
  --system-topic-name "$UPLOAD_EVENTS_TOPIC" \
  --endpoint-type webhook \
  --endpoint "$endpoint" \
  --included-event-types Microsoft.Storage.BlobCreated \
  --subject-begins-with "/blobServices/default/containers/${UPLOAD_CONTAINER}/" \
  --output none
echo "Event Grid now delivers BlobCreated events of '${UPLOAD_CONTAINER}' to ${function_name}."
