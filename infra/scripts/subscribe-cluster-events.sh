#!/bin/sh
# azd postdeploy hook: subscribe the cluster_events function to this subscription's cluster events.
# Event Grid refuses a function endpoint that is not deployed yet, so the first `azd provision` leaves the event
# subscription out (subscribeClusterEvents=false). Now the code is deployed: add it, and keep it in later provisions.
# Azure allows one system topic per subscription: if the subscription has one already (another team's), the event
# subscription goes on that topic (with the events identity added to it for dead-lettering) by a deployment of this
# hook's, on every `azd deploy`; main.bicep never deploys into that team's resource group, so `azd down` cannot delete
# it (the predown hook, remove-cluster-events.sh, takes the event subscription off their topic).
# The values are main.bicep's outputs, which azd passes to hooks as environment variables. Idempotent.
set -eu
. "$(dirname "$0")/lib.sh"
require_az_login postdeploy

lower() { printf %s "$1" | tr 'A-Z' 'a-z'; }
topic_name=$SYSTEM_TOPIC_NAME
topic_group=$AZURE_RESOURCE_GROUP
reuse=false
# The subscription's system topic, if any: id, name, resource group (the source is the subscription's id).
existing=$(az eventgrid system-topic list --subscription "$AZURE_SUBSCRIPTION_ID" \
  --query "[].[id, name, resourceGroup, source]" -o tsv |
  awk -F '\t' -v source="/subscriptions/$(lower "$AZURE_SUBSCRIPTION_ID")" 'tolower($4) == source { print; exit }')
if [ -n "$existing" ]; then
  topic_id=$(printf %s "$existing" | cut -f 1)
  found_name=$(printf %s "$existing" | cut -f 2)
  found_group=$(printf %s "$existing" | cut -f 3)
  if [ "$(lower "$found_name/$found_group")" != "$(lower "$topic_name/$topic_group")" ]; then
    reuse=true
    topic_name=$found_name
    topic_group=$found_group
    echo "argoboot: subscription $AZURE_SUBSCRIPTION_ID already has the system topic $topic_id; adding the event subscription to it"
    kind=$(az eventgrid system-topic show --ids "$topic_id" --query "identity.type" -o tsv)
    assigned=$(az eventgrid system-topic show --ids "$topic_id" \
      --query 'join(` `, keys(identity.userAssignedIdentities || `{}`))' -o tsv)
    if ! printf '%s\n' $assigned | grep -Fqix "$EVENTS_IDENTITY_ID"; then
      case "$kind" in
        *SystemAssigned*)
          echo "argoboot: the system topic $topic_id has a system-assigned identity, and Event Grid does not let a topic have both kinds, so it cannot dead-letter with $EVENTS_IDENTITY_ID. Either switch the topic to user-assigned identities (its other event subscriptions' dead-letter settings use them) and add that one, or delete the topic; then run 'azd hooks run postdeploy'" >&2
          exit 1 ;;
      esac
      if [ "$(printf '%s\n' $assigned | grep -c .)" -ge 2 ]; then
        echo "argoboot: the system topic $topic_id already has two user-assigned identities, the most Event Grid allows; remove one or add $EVENTS_IDENTITY_ID in its place, then run 'azd hooks run postdeploy'" >&2
        exit 1
      fi
      identities=""
      for identity in $assigned; do identities="$identities\"$identity\": {}, "; done
      body=$(mktemp)
      printf '{"identity": {"type": "UserAssigned", "userAssignedIdentities": {%s"%s": {}}}}' \
        "$identities" "$EVENTS_IDENTITY_ID" >"$body"
      az rest --method patch --url "$topic_id?api-version=2022-06-15" --output none --body "@$body"
      rm -f "$body"
      echo "argoboot: added the events identity to $topic_id (it dead-letters undeliverable cluster events with it)"
    fi
  fi
fi

# The service's own topic: the deployment main.bicep's module makes too, which later provisions keep (with
# SUBSCRIBE_CLUSTER_EVENTS=true). Another team's: a deployment named for this environment, this hook's alone.
deployment=cluster-events
tags_file=$(mktemp)
printf '{"parameters": {"tags": {"value": {"azd-env-name": "%s", "application": "argoboot"}}}}' "$AZURE_ENV_NAME" \
  >"$tags_file"
[ "$reuse" = false ] || deployment="events-$DEPLOYMENT_SUFFIX"
retry_on "subscribing $AZURE_FUNCTION_APP_NAME/cluster_events to the cluster events" \
  "Destination endpoint not found|endpoint.*not found" \
  "Event Grid still cannot see the function; check that 'azd deploy' published it ('az functionapp function list -g $AZURE_RESOURCE_GROUP -n $AZURE_FUNCTION_APP_NAME' lists cluster_events), then run 'azd hooks run postdeploy'" \
  az deployment group create \
    --subscription "$AZURE_SUBSCRIPTION_ID" \
    --resource-group "$topic_group" \
    --name "$deployment" \
    --template-file infra/modules/cluster-events.bicep \
    --parameters \
      systemTopicName="$topic_name" \
      reuseExistingTopic="$reuse" \
      eventSubscriptionName="$EVENT_SUBSCRIPTION_NAME" \
      functionAppId="$AZURE_FUNCTION_APP_ID" \
      eventsIdentityId="$EVENTS_IDENTITY_ID" \
      deadLetterStorageAccountId="$STORAGE_ACCOUNT_ID" \
      deadLetterContainerName="$DEAD_LETTER_CONTAINER" \
      alertActionGroupId="${ALERT_ACTION_GROUP_ID:-}" \
      "@$tags_file" \
    --output none
rm -f "$tags_file"
# Only the service's own topic is main.bicep's to keep; another team's stays this hook's (main.bicep could not create
# a second topic for the subscription).
[ "$reuse" = true ] || azd env set SUBSCRIBE_CLUSTER_EVENTS true
echo "argoboot: cluster events of subscription $AZURE_SUBSCRIPTION_ID now reach $AZURE_FUNCTION_APP_NAME/cluster_events"
