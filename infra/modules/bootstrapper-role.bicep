// The app's least-privilege custom role in one subscription, and its assignment to the app's identity there.
// Used by main.bicep for the subscription the service runs in and by onboard-subscription.bicep for the others.
targetScope = 'subscription'

@description('Object (principal) id of the function app\'s user-assigned identity.')
param principalId string

@description('Role definition ids the app may grant and revoke (constrained delegation). Default: AcrPull, for Argo CD\'s identity on registries.')
param delegableRoleIds array = [
  '7f951dda-4ed3-4680-a7ca-43fe172d538d' // AcrPull
]

// The action list lives in JSON so the tests read exactly what is deployed.
var role = loadJsonContent('../bootstrapper-role.json')
var delegable = 'ForAnyOfAnyValues:GuidEquals {${join(delegableRoleIds, ', ')}}'

// Role assignments only for the roles above, and only to service principals (managed identities).
var delegationCondition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ${delegable} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ${delegable}))'

// Deterministic name: one definition per subscription, created on the first deployment and updated by later ones.
resource definition 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'argoboot-cluster-bootstrapper')
  properties: {
    roleName: 'argoboot cluster bootstrapper (${subscription().subscriptionId})'
    description: role.description
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: role.actions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, definition.id)
  properties: {
    roleDefinitionId: definition.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'argoboot: bootstrap Argo CD on the AKS and Arc clusters of this subscription'
    condition: delegationCondition
    conditionVersion: '2.0'
  }
}

output roleDefinitionId string = definition.id
