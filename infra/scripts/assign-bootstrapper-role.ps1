# azd postprovision hook (Windows): the same as assign-bootstrapper-role.sh.
$ErrorActionPreference = 'Stop'
. "$PSScriptRoot/lib.ps1"
Require-AzLogin provision
Retry-On "assigning the argoboot role in subscription $env:AZURE_SUBSCRIPTION_ID" `
  'RoleDefinitionDoesNotExist|PrincipalNotFound' `
  "the role definition or the app's identity has not replicated yet; run 'azd provision' again in a few minutes" {
  az deployment sub create `
    --subscription $env:AZURE_SUBSCRIPTION_ID `
    --location $env:AZURE_LOCATION `
    --name argoboot-bootstrapper-role-assignment `
    --template-file infra/modules/bootstrapper-role-assignment.bicep `
    --parameters `
      principalId=$env:APP_PRINCIPAL_ID `
    --output none
}
Write-Host "argoboot: the app's identity holds its role in subscription $env:AZURE_SUBSCRIPTION_ID"
