// The app's least-privilege custom role in one subscription (its assignment: bootstrapper-role-assignment.bicep,
// deployed after the definition has replicated). Used by main.bicep for the subscription the service runs in and by
// onboard-subscription.bicep for the others.
targetScope = 'subscription'

@description('Let the app turn on the OIDC issuer and workload identity of AKS clusters (profiles with workloadIdentity.enableOnCluster): adds managedClusters/write and userAssignedIdentities/assign/action.')
param enableWorkloadIdentityOnClusters bool = false

// The action lists live in JSON so the tests read exactly what is deployed.
var role = loadJsonContent('../bootstrapper-role.json')
var actions = enableWorkloadIdentityOnClusters ? concat(role.actions, role.enableWorkloadIdentityOnClusters.actions) : role.actions

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
        actions: actions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

output roleDefinitionId string = definition.id
