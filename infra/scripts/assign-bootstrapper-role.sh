#!/bin/sh
# azd postprovision hook: assign the app's custom roles (created by main.bicep) to its identity in this subscription:
# the cluster role at the subscription, the identity role only at the identity resource group (IDENTITY_RESOURCE_GROUP;
# without one the identities live in each cluster's group, and the identity role is assigned at the subscription).
# A new role definition takes a while to replicate, and an assignment made at once fails with RoleDefinitionDoesNotExist
# (a new identity's principal likewise, PrincipalNotFound): so the assignment is its own deployment, retried until Azure
# sees both. Idempotent. Also for onboarded subscriptions (docs/deploy.md): set AZURE_SUBSCRIPTION_ID to that one and
# the role ids to onboard-subscription.bicep's outputs. Values: main.bicep's outputs (azd passes them to hooks).
# The identity group (by default rg-<environment>-argocd-identities) is created here, in each subscription, if missing:
# not by main.bicep, because `azd down` deletes every group its deployment touched, and the identities in it are
# what every cluster's Argo CD signs in with. `azd down` leaves it (docs/deploy.md, "Removing").
set -eu
. "$(dirname "$0")/lib.sh"
require_az_login provision
home=$(identity_home "$AZURE_SUBSCRIPTION_ID")
assign_identity_role=true
if [ -n "$home" ] && [ "$(printf %s "${home%% *}" | tr 'A-Z' 'a-z')" != "$(printf %s "$AZURE_SUBSCRIPTION_ID" | tr 'A-Z' 'a-z')" ]; then
  # A role is assignable only in the subscription that defines it: that subscription's run of this hook assigns it.
  assign_identity_role=false
  echo "argoboot: the identities of subscription $AZURE_SUBSCRIPTION_ID live in subscription ${home%% *} (group ${home#* }): onboard that subscription and run this hook for it, which assigns the identity role there" >&2
elif [ -z "$home" ]; then
  echo "argoboot: no IDENTITY_RESOURCE_GROUP for subscription $AZURE_SUBSCRIPTION_ID: the identity role (create, federate and delete managed identities) is assigned on the whole subscription. For least privilege, 'azd env set ARGOBOOT_IDENTITIES_IN_CLUSTER_GROUPS false' (the default: a group of its own per environment) or 'azd env set ARGOBOOT_IDENTITY_RESOURCE_GROUP <group>' (docs/deploy.md)" >&2
else
  if [ "$(printf %s "${home#* }" | tr 'A-Z' 'a-z')" = "$(printf %s "${AZURE_RESOURCE_GROUP:-}" | tr 'A-Z' 'a-z')" ]; then
    echo "argoboot: IDENTITY_RESOURCE_GROUP names ${home#* }, this environment's own resource group, which 'azd down' deletes with the clusters' Argo CD identities in it; name a group of its own ('azd env set ARGOBOOT_IDENTITY_RESOURCE_GROUP <group>', or unset it for rg-$AZURE_ENV_NAME-argocd-identities), then 'azd provision'" >&2
    exit 1
  fi
  ensure_identity_group "$AZURE_SUBSCRIPTION_ID" "${home#* }"
fi
retry_on "assigning the argoboot roles in subscription $AZURE_SUBSCRIPTION_ID" \
  "RoleDefinitionDoesNotExist|PrincipalNotFound" \
  "the role definition or the app's identity has not replicated yet; run 'azd provision' again in a few minutes" \
  az deployment sub create \
    --subscription "$AZURE_SUBSCRIPTION_ID" \
    --location "$AZURE_LOCATION" \
    --name "roleassign-$DEPLOYMENT_SUFFIX" \
    --template-file infra/modules/bootstrapper-role-assignment.bicep \
    --parameters \
      principalId="$APP_PRINCIPAL_ID" \
      assignIdentityRole="$assign_identity_role" \
      roleDefinitionId="$ROLE_DEFINITION_ID" \
      identityRoleDefinitionId="$IDENTITY_ROLE_DEFINITION_ID" \
      identitySubscriptionId="${home%% *}" \
      identityResourceGroup="${home#* }" \
    --output none
echo "argoboot: the app's identity holds its roles in subscription $AZURE_SUBSCRIPTION_ID"
