#!/usr/bin/env bash
# Creates the Entra ID app registration that guards argoboot's status API (once per tenant), with the app role
# Status.Read, assignment required (Entra issues tokens only to identities assigned a role), and the identifier
# URI api://<client id>, issuing v2 access tokens. Prints the client id for `azd env set STATUS_API_CLIENT_ID <id>`. Needs permission to
# create applications (Application Developer, or a user allowed to register apps).
set -euo pipefail
name="${1:-argoboot-status-api}"
role_id=$(python3 -c 'import uuid; print(uuid.uuid4())')
roles=$(printf '[{"allowedMemberTypes":["Application","User"],"description":"Read what argoboot knows of clusters and requests","displayName":"Status.Read","id":"%s","isEnabled":true,"value":"Status.Read"}]' "$role_id")
client_id=$(az ad app create --display-name "$name" --sign-in-audience AzureADMyOrg --app-roles "$roles" \
  --query appId -o tsv)
# v2 access tokens (issuer <login endpoint>/<tenant>/v2.0), the issuer status-auth.bicep validates; a new
# registration would otherwise issue v1 tokens (issuer https://sts.windows.net/<tenant>/), answered 401.
az ad app update --id "$client_id" --identifier-uris "api://$client_id" --set api.requestedAccessTokenVersion=2
sp_id=$(az ad sp create --id "$client_id" --query id -o tsv)
az ad sp update --id "$sp_id" --set appRoleAssignmentRequired=true
echo "$client_id"
