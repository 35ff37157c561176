#!/bin/sh
# azd predown hook: before `azd down` deletes the environment's resource group, undo what the postdeploy hook did
# outside it, and reset the environment so the next `azd up` starts as the first one did.
# - SUBSCRIBE_CLUSTER_EVENTS=false: the next provision runs before the code is published, and Event Grid refuses an
#   event subscription to a function that does not exist yet ("Destination endpoint not found").
# - Where the event subscription went on another team's system topic (subscribe-cluster-events.sh): take it, its
#   alerts and the events identity (which `azd down` deletes) off that topic. The topic and its group stay.
# The service's own topic is in the environment's resource group, which `azd down` deletes with everything in it.
set -eu
. "$(dirname "$0")/lib.sh"
require_az_login down

lower() { printf %s "$1" | tr 'A-Z' 'a-z'; }
existing=$(az eventgrid system-topic list --subscription "$AZURE_SUBSCRIPTION_ID" \
  --query "[].[id, name, resourceGroup, source]" -o tsv |
  awk -F '\t' -v source="/subscriptions/$(lower "$AZURE_SUBSCRIPTION_ID")" 'tolower($4) == source { print; exit }')
topic_group=$(printf %s "$existing" | cut -f 3)
if [ -n "$existing" ] && [ "$(lower "$topic_group")" != "$(lower "$AZURE_RESOURCE_GROUP")" ]; then
  topic_id=$(printf %s "$existing" | cut -f 1)
  topic_name=$(printf %s "$existing" | cut -f 2)
  az eventgrid system-topic event-subscription delete --subscription "$AZURE_SUBSCRIPTION_ID" \
    --resource-group "$topic_group" --system-topic-name "$topic_name" --name "$EVENT_SUBSCRIPTION_NAME" --yes
  for alert in dead-letters delivery-failures dropped-events; do
    az monitor metrics alert delete --subscription "$AZURE_SUBSCRIPTION_ID" --resource-group "$topic_group" \
      --name "$topic_name-$EVENT_SUBSCRIPTION_NAME-$alert"
  done
  assigned=$(az eventgrid system-topic show --ids "$topic_id" \
    --query 'join(` `, keys(identity.userAssignedIdentities || `{}`))' -o tsv)
  if printf '%s\n' $assigned | grep -Fqix "$EVENTS_IDENTITY_ID"; then
    # PATCH semantics: null removes one identity; a topic left with none has identity type None.
    body=$(mktemp)
    if [ "$(printf '%s\n' $assigned | grep -c .)" -ge 2 ]; then
      printf '{"identity": {"type": "UserAssigned", "userAssignedIdentities": {"%s": null}}}' "$EVENTS_IDENTITY_ID" >"$body"
    else
      printf '{"identity": {"type": "None"}}' >"$body"
    fi
    az rest --method patch --url "$topic_id?api-version=2022-06-15" --output none --body "@$body"
    rm -f "$body"
  fi
  echo "argoboot: took $EVENT_SUBSCRIPTION_NAME and the events identity off $topic_id (the topic stays)"
fi
azd env set SUBSCRIBE_CLUSTER_EVENTS false
echo "argoboot: SUBSCRIBE_CLUSTER_EVENTS reset: the next 'azd up' subscribes the events after publishing the code"
