// The app's least-privilege custom roles in one subscription, one pair per environment: the cluster role (assigned at
// the subscription) and the identity role (assigned only at the identity resource group). Their assignments:
// bootstrapper-role-assignment.bicep, deployed after the definitions have replicated. Used by main.bicep for the
// subscription the service runs in and by onboard-subscription.bicep for the others.
targetScope = 'subscription'

@minLength(1)
@description('What makes these definitions this environment\'s own (main.bicep: <environment>-<token>), so two environments in one subscription never share, or change, each other\'s rights.')
param roleKey string

@description('Let the app turn on the OIDC issuer and workload identity of AKS clusters (profiles with workloadIdentity.enableOnCluster): adds managedClusters/write and userAssignedIdentities/assign/action.')
param enableWorkloadIdentityOnClusters bool = false

// The action lists live in JSON so the tests read exactly what is deployed.
var role = loadJsonContent('../bootstrapper-role.json')
var actions = enableWorkloadIdentityOnClusters ? concat(role.actions, role.enableWorkloadIdentityOnClusters.actions) : role.actions

// Deterministic names: one pair per environment and subscription, created on the first deployment, updated later.
resource definition 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'argoboot-cluster-bootstrapper', roleKey)
  properties: {
    roleName: 'argoboot cluster bootstrapper ${roleKey} (${subscription().subscriptionId})'
    description: role.description
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: actions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

resource identityDefinition 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'argoboot-identity-manager', roleKey)
  properties: {
    roleName: 'argoboot identity manager ${roleKey} (${subscription().subscriptionId})'
    description: role.identityRole.description
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: role.identityRole.actions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

output roleDefinitionId string = definition.id
output identityRoleDefinitionId string = identityDefinition.id
