#!/bin/sh
# azd postprovision hook: assign the app's custom role (created by main.bicep) to its identity in this subscription.
# A new role definition takes a while to replicate, and an assignment made at once fails with RoleDefinitionDoesNotExist
# (a new identity's principal likewise, PrincipalNotFound): so the assignment is its own deployment, retried until Azure
# sees both. Idempotent. Also for onboarded subscriptions (docs/deploy.md): set AZURE_SUBSCRIPTION_ID to that one.
# Values: main.bicep's outputs, which azd passes to hooks as environment variables.
set -eu
. "$(dirname "$0")/lib.sh"
require_az_login provision
retry_on "assigning the argoboot role in subscription $AZURE_SUBSCRIPTION_ID" \
  "RoleDefinitionDoesNotExist|PrincipalNotFound" \
  "the role definition or the app's identity has not replicated yet; run 'azd provision' again in a few minutes" \
  az deployment sub create \
    --subscription "$AZURE_SUBSCRIPTION_ID" \
    --location "$AZURE_LOCATION" \
    --name argoboot-bootstrapper-role-assignment \
    --template-file infra/modules/bootstrapper-role-assignment.bicep \
    --parameters \
      principalId="$APP_PRINCIPAL_ID" \
    --output none
echo "argoboot: the app's identity holds its role in subscription $AZURE_SUBSCRIPTION_ID"
