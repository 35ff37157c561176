// The identity role (bootstrapper-role.bicep) assigned to the app's identity at the identity resource group only: the
// app creates, federates and deletes the per-cluster Argo CD identities there and nowhere else.
targetScope = 'resourceGroup'

param principalId string
param roleDefinitionId string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'argoboot: the per-cluster Argo CD identities of this resource group'
  }
}
