// The app's custom roles assigned to its identity in one subscription: the cluster role at the subscription, with
// constrained delegation; the identity role at the identity resource group (at the subscription only when there is
// none: the identities then live in each cluster's group).
// Its own deployment, after the definition's: a role definition takes a while to replicate, and an assignment in the
// same deployment can fail with RoleDefinitionDoesNotExist. infra/scripts/assign-bootstrapper-role.sh deploys it and
// retries until the definition is visible (azd's postprovision hook; docs/deploy.md without azd).
targetScope = 'subscription'

@description('Object (principal) id of the function app\'s user-assigned identity.')
param principalId string

@description('Resource id of the cluster role: output roleDefinitionId of bootstrapper-role.bicep (main.bicep: ROLE_DEFINITION_ID).')
param roleDefinitionId string

@description('Resource id of the identity role: output identityRoleDefinitionId (main.bicep: IDENTITY_ROLE_DEFINITION_ID).')
param identityRoleDefinitionId string

@description('Assign the identity role from this subscription. False when this subscription\'s identities live in a group of another subscription: the identity role defined there is assigned there (a role is assignable only in its own subscription).')
param assignIdentityRole bool = true

@description('Subscription of the identity resource group (empty: this one).')
param identitySubscriptionId string = ''

@description('The identity resource group for this subscription\'s clusters (IDENTITY_RESOURCE_GROUP); empty: none, the identity role is assigned at the subscription.')
param identityResourceGroup string = ''

@description('Role definition ids the app may grant and revoke (constrained delegation). Default: the two pull roles for Argo CD\'s identity on registries (AcrPull, and Container Registry Repository Reader for registries with ABAC repository permissions), and the three roles a hub Argo CD\'s identity may get on its spokes (docs/hub-and-spoke.md).')
param delegableRoleIds array = [
  '7f951dda-4ed3-4680-a7ca-43fe172d538d' // AcrPull
  'b93aa761-3e63-49ed-ac28-beffa264f7ac' // ContainerRegistryRepositoryReader
  'b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b' // AzureKubernetesServiceRbacClusterAdmin
  '3498e952-d568-435e-9b2c-8d77e338d7f7' // AzureKubernetesServiceRbacAdmin
  'a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb' // AzureKubernetesServiceRbacWriter
]

var delegable = 'ForAnyOfAnyValues:GuidEquals {${join(delegableRoleIds, ', ')}}'

// Role assignments only for the roles above, and only to service principals (managed identities).
var delegationCondition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ${delegable} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ${delegable}))'

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'argoboot: bootstrap Argo CD on the AKS and Arc clusters of this subscription'
    condition: delegationCondition
    conditionVersion: '2.0'
  }
}

resource identityRoleAtSubscription 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignIdentityRole && empty(identityResourceGroup)) {
  name: guid(subscription().id, principalId, identityRoleDefinitionId)
  properties: {
    roleDefinitionId: identityRoleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'argoboot: per-cluster Argo CD identities in the clusters\' groups (no IDENTITY_RESOURCE_GROUP)'
  }
}

module identityRole 'bootstrapper-identity-role-assignment.bicep' = if (assignIdentityRole && !empty(identityResourceGroup)) {
  name: take('argoboot-identity-role-${uniqueString(principalId, identityRoleDefinitionId)}', 64)
  scope: resourceGroup(empty(identitySubscriptionId) ? subscription().subscriptionId : identitySubscriptionId, empty(identityResourceGroup) ? 'unused' : identityResourceGroup)
  params: {
    principalId: principalId
    roleDefinitionId: identityRoleDefinitionId
  }
}
