# azd postprovision hook (Windows): the same as assign-bootstrapper-role.sh (which says why the identity group is
# created here and not by main.bicep).
$ErrorActionPreference = 'Stop'
. "$PSScriptRoot/lib.ps1"
Require-AzLogin provision
$identitySubscription, $identityGroup = Identity-Home $env:AZURE_SUBSCRIPTION_ID
$assignIdentityRole = 'true'
if ($identityGroup -and $identitySubscription -ine $env:AZURE_SUBSCRIPTION_ID) {
    # A role is assignable only in the subscription that defines it: that subscription's run of this hook assigns it.
    $assignIdentityRole = 'false'
    Write-Warning "argoboot: the identities of subscription $env:AZURE_SUBSCRIPTION_ID live in subscription $identitySubscription (group $identityGroup): onboard that subscription and run this hook for it, which assigns the identity role there"
} elseif (-not $identityGroup) {
    Write-Warning "argoboot: no IDENTITY_RESOURCE_GROUP for subscription $env:AZURE_SUBSCRIPTION_ID: the identity role (create, federate and delete managed identities) is assigned on the whole subscription. For least privilege, 'azd env set ARGOBOOT_IDENTITIES_IN_CLUSTER_GROUPS false' (the default: a group of its own per environment) or 'azd env set ARGOBOOT_IDENTITY_RESOURCE_GROUP <group>' (docs/deploy.md)"
} else {
    if ($env:AZURE_RESOURCE_GROUP -and $identityGroup -ieq $env:AZURE_RESOURCE_GROUP) {
        Write-Error "argoboot: IDENTITY_RESOURCE_GROUP names $identityGroup, this environment's own resource group, which 'azd down' deletes with the clusters' Argo CD identities in it; name a group of its own ('azd env set ARGOBOOT_IDENTITY_RESOURCE_GROUP <group>', or unset it for rg-$($env:AZURE_ENV_NAME)-argocd-identities), then 'azd provision'"
        exit 1
    }
    Ensure-IdentityGroup $env:AZURE_SUBSCRIPTION_ID $identityGroup
}
Retry-On "assigning the argoboot roles in subscription $env:AZURE_SUBSCRIPTION_ID" `
  'RoleDefinitionDoesNotExist|PrincipalNotFound' `
  "the role definition or the app's identity has not replicated yet; run 'azd provision' again in a few minutes" {
  az deployment sub create `
    --subscription $env:AZURE_SUBSCRIPTION_ID `
    --location $env:AZURE_LOCATION `
    --name "roleassign-$env:DEPLOYMENT_SUFFIX" `
    --template-file infra/modules/bootstrapper-role-assignment.bicep `
    --parameters `
      principalId=$env:APP_PRINCIPAL_ID `
      assignIdentityRole=$assignIdentityRole `
      roleDefinitionId=$env:ROLE_DEFINITION_ID `
      identityRoleDefinitionId=$env:IDENTITY_ROLE_DEFINITION_ID `
      identitySubscriptionId=$identitySubscription `
      identityResourceGroup=$identityGroup `
    --output none
}
Write-Host "argoboot: the app's identity holds its roles in subscription $env:AZURE_SUBSCRIPTION_ID"
