#!/bin/sh
# azd postdeploy hook: subscribe the cluster_events function to this subscription's cluster events.
# Event Grid refuses a function endpoint that is not deployed yet, so the first `azd provision` leaves the event
# subscription out (subscribeClusterEvents=false). Now the code is deployed: add it, and keep it in later provisions.
# The values are main.bicep's outputs, which azd passes to hooks as environment variables. Idempotent.
set -eu
az deployment group create \
  --subscription "$AZURE_SUBSCRIPTION_ID" \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name argoboot-cluster-events \
  --template-file infra/modules/cluster-events.bicep \
  --parameters \
    systemTopicName="$SYSTEM_TOPIC_NAME" \
    functionAppId="$AZURE_FUNCTION_APP_ID" \
    eventsIdentityId="$EVENTS_IDENTITY_ID" \
    deadLetterStorageAccountId="$STORAGE_ACCOUNT_ID" \
    deadLetterContainerName="$DEAD_LETTER_CONTAINER" \
    tags="{\"azd-env-name\": \"$AZURE_ENV_NAME\", \"application\": \"argoboot\"}" \
  --output none
azd env set SUBSCRIBE_CLUSTER_EVENTS true
echo "cluster events of subscription $AZURE_SUBSCRIPTION_ID now reach $AZURE_FUNCTION_APP_NAME/cluster_events"
