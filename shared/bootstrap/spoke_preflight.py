"""Pre-flight of a spoke and its hub: reads only, before any write; a refusal names the fix.

A check refuses only on Azure's evidence (the cluster's ARM body says Entra integration or Azure RBAC is off, the
API server is private, the hub is missing or failed); what ARM cannot say (a tenant it does not report, a network
path to a private API server) is "unknown", said in the steps, never a refusal and never "OK".
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.bootstrap.argocd_extension import EXTENSION_NAME, ExtensionState
from shared.bootstrap.cluster_facts import ApiAccess, ClusterFacts
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.hub_profile import Hub
from shared.errors import PermanentError

WI_ENABLED = "azure.workloadIdentity.enabled"
WI_CLIENT = "azure.workloadIdentity.clientId"


@dataclass(frozen=True)
class HubReady:
    """What the spoke's registration needs from a hub that passed its checks."""

    client_id: str  # the hub identity's client id (the extension's azure.workloadIdentity.clientId)
    settings: dict[str, str]  # the hub extension's settings now


def spoke_access(spoke: ClusterRef, facts: ClusterFacts, hub: Hub) -> ApiAccess:
    """An AKS spoke's API server as a hub can use it; refused with the `az aks update` that fixes it."""
    access = facts.access
    if access is None:
        raise PermanentError("SpokeUnreadable", f"ARM returned no properties for {spoke.id}; send the request again "
                             "once the cluster reports them")
    fix = f"az aks update -g {spoke.resource_group} -n {spoke.name}"
    if not access.entra:
        raise PermanentError("SpokeWithoutEntra", f"{spoke.name} has no Microsoft Entra integration (aadProfile."
                             "managed), so a hub cannot sign in to it with its identity: run `{fix} --enable-aad "
                             "--enable-azure-rbac`, then send the request again".replace("{fix}", fix))
    if not access.azure_rbac:
        raise PermanentError("SpokeWithoutAzureRbac", f"{spoke.name} does not use Azure RBAC for Kubernetes "
                             "authorization (aadProfile.enableAzureRBAC), so a role assignment cannot let the hub in: "
                             f"run `{fix} --enable-azure-rbac`, then send the request again")
    if access.private and hub.private_clusters != "reachable":
        raise PermanentError("PrivateSpoke", f"{spoke.name}'s API server is private ({access.fqdn}); nothing in ARM "
                             "proves the hub can reach it. Peer the networks and link the private DNS zone (or add a "
                             "private endpoint), then set hub.privateClusters: reachable in the profile; or make "
                             f"the API server public (`{fix} --disable-private-cluster` where supported)")
    if access.fqdn is None:
        raise PermanentError("SpokeWithoutFqdn", f"ARM reports no API server FQDN for {spoke.name}; send the request "
                             "again once the cluster reports one")
    return access


def hub_ready(hub: ClusterRef, facts: ClusterFacts | None, ext: ExtensionState | None,
              step: Callable[[str], None]) -> HubReady | str:
    """The hub's state: ready (its client id and settings), a reason to wait (str: an operation runs on its
    extension), or refused (no hub, no extension, failed, without workload identity)."""
    fix = f"send a request for the hub {hub.id} with its hub profile (hub.serve: true) first"
    if facts is None:
        raise PermanentError("HubNotFound", f"the hub {hub.id} does not exist: fix hub.cluster in the profile, or "
                             "create the hub and " + fix)
    if facts.provisioning_state.lower() != "succeeded":
        raise PermanentError("HubNotReady", f"the hub {hub.name} is {facts.provisioning_state}: repair it, then send "
                             "the request again")
    if ext is None:
        raise PermanentError("HubWithoutArgoCD", f"the hub {hub.name} runs no extension {EXTENSION_NAME}: {fix}")
    if ext.in_progress:
        return f"hub {hub.name}'s extension is {ext.provisioning_state}: one hub operation at a time"
    if ext.provisioning_state.lower() != "succeeded":
        raise PermanentError("HubNotReady", f"the hub {hub.name}'s extension is {ext.provisioning_state} "
                             f"({ext.error_code or 'no error code'}): {fix}")
    client_id = ext.settings.get(WI_CLIENT)
    if ext.settings.get(WI_ENABLED, "").lower() != "true" or not client_id:
        raise PermanentError("HubWithoutWorkloadIdentity", f"the hub {hub.name}'s Argo CD does not use workload "
                             f"identity ({WI_ENABLED}), so it has no identity to reach spokes with: {fix}")
    step(f"hub {hub.name} checked: extension {EXTENSION_NAME} Succeeded, workload identity {client_id}")
    return HubReady(client_id=client_id, settings=dict(ext.settings))


def same_tenant(spoke: ClusterRef, facts: ClusterFacts, hub_facts: ClusterFacts, step: Callable[[str], None]) -> None:
    """The hub identity's token is valid only in its own Entra tenant: refused when ARM names two tenants."""
    mine = (facts.access.tenant_id if facts.access else None) or facts.tenant_id
    theirs = (hub_facts.access.tenant_id if hub_facts.access else None) or hub_facts.tenant_id
    if mine is None or theirs is None:
        step("tenant: unknown (ARM reports no tenant for the spoke or the hub); the hub's sign-in fails if they differ")
    elif mine.lower() != theirs.lower():
        raise PermanentError("SpokeInAnotherTenant", f"{spoke.name} is in Entra tenant {mine}, the hub in {theirs}: "
                             "the hub identity cannot sign in to it. Register it on a hub of its own tenant")
