# azd postprovision hook (Windows): the same as assign-bootstrapper-role.sh.
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
    Write-Warning "argoboot: no IDENTITY_RESOURCE_GROUP for subscription $env:AZURE_SUBSCRIPTION_ID: the identity role (create, federate and delete managed identities) is assigned on the whole subscription. For least privilege, 'azd env set ARGOBOOT_IDENTITY_RESOURCE_GROUP <group>' (docs/deploy.md)"
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
