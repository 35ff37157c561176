"""The spoke part of a reconcile: pre-flight, the hub identity's role on the spoke, the registration on the hub.

Called by the reconciler once the spoke's own cluster read passed (`Reconciler._full`) for a profile with
`hub.cluster`, and on removal. Reads and refusals first (the spoke's access, the hub and its extension, the tenants,
the hub identity, the spoke's CA), writes after: a refused spoke costs Azure nothing. One hub operation at a time:
while the hub's extension runs one, the spoke waits (Azure would refuse a PATCH with 409 Conflict anyway).

The registration is a read-modify-write of the hub's registrations setting (`shared.bootstrap.hub_registration`):
the level-triggered loop makes it converge (a registration lost to a concurrent write is sent again by the next
pass, or the sweep's).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from shared.azure.api import AzureApi
from shared.bootstrap.argocd_extension import EXTENSION_NAME, RELEASE_NAMESPACE, ExtensionSpec, ExtensionState
from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_ids import ClusterRef, parse_cluster_id
from shared.bootstrap.hub_batching import HubSender
from shared.bootstrap.hub_profile import Hub
from shared.bootstrap.hub_registration import kept_on_hub, parse_registrations, registration, spoke_name
from shared.bootstrap.identity_placement import IdentityPlacement
from shared.bootstrap.outcome import Awaited, Outcome, Run
from shared.bootstrap.profiles import Profile
from shared.bootstrap.spoke_preflight import WI_CLIENT, hub_ready, same_tenant, spoke_access
from shared.bootstrap.workload_identity import (
    ManagedIdentity,
    identity_for,
    role_assignment_name,
    role_assignment_ref,
    role_definition_id,
)
from shared.errors import PermanentError

#: Microsoft: a role assignment can take up to five minutes to take effect (learn.microsoft.com/azure/aks/
#: manage-azure-rbac; argocd-2026.md section 4). Argo CD's first connections may be refused until then.
PROPAGATION_SECONDS = 300
_REGISTRATION = "hub-registration:"  # how the ledger names a registration: hub-registration:<hub id>#<spoke name>


def registration_ref(hub: ClusterRef, name: str) -> str:
    return f"{_REGISTRATION}{hub.id}#{name}"


def parse_registration_ref(item: str) -> tuple[ClusterRef, str] | None:
    """(hub, spoke name) of a ledger entry naming a registration, or None for anything else."""
    if not item.startswith(_REGISTRATION) or "#" not in item:
        return None
    hub_id, name = item[len(_REGISTRATION):].rsplit("#", 1)
    return parse_cluster_id(hub_id), name


@dataclass
class HubSteps:
    api: AzureApi
    placement: IdentityPlacement
    sender: HubSender  # batches registration changes into hub PATCHes (shared.bootstrap.hub_batching)

    def spoke(self, run: Run, spoke: ClusterRef, profile: Profile, facts: ClusterFacts) -> Outcome | None:
        """Register the spoke on its hub. An Outcome ends the run (waiting, refused, or done when the spoke gets no
        Argo CD of its own); None lets it go on to the spoke's own extension."""
        hub = profile.hub
        if hub is None or hub.cluster is None:
            return None
        if spoke.kind == "arc":
            if hub.arc_clusters == "refuse":
                raise PermanentError("ArcSpoke", f"{spoke.name} is an Arc cluster: its API server is reached through "
                                     "cluster connect, a client-side proxy a hub cannot use, and profile "
                                     f"{profile.name!r} says hub.arcClusters: refuse. Use a profile without a hub for "
                                     "it (it then gets Argo CD of its own)")
            run.step(f"not registered on hub {hub.cluster.name}: an Arc cluster's API server is no endpoint a hub can "
                     "use (cluster connect is a client-side proxy); it gets Argo CD of its own (hub.arcClusters)")
            return None
        if spoke.key == hub.cluster.key:
            raise PermanentError("SpokeIsItsHub", f"{spoke.name} is the hub its profile names; send the hub's "
                                 "request with its hub profile (hub.serve: true)")
        access = spoke_access(spoke, facts, hub)
        hub_facts = self.api.get_cluster(hub.cluster)
        ext = self.api.get_extension(hub.cluster, EXTENSION_NAME) if hub_facts is not None else None
        ready = hub_ready(hub.cluster, hub_facts, ext, run.step)
        if isinstance(ready, str):
            return run.wait("hub", ready, Awaited("hub"))
        assert hub_facts is not None  # hub_ready refuses a missing hub
        same_tenant(spoke, facts, hub_facts, run.step)
        identity = self._hub_identity(hub.cluster, ready.client_id)
        ca = self.api.spoke_ca(spoke)  # an action, but a read: the spoke's kubeconfig, reduced to its CA
        run.step(f"spoke checked: Entra integration with Azure RBAC, API server {access.fqdn}"
                 + (" (private: the profile vouches the hub reaches it)" if access.private else "")
                 + "; its CA read (listClusterUserCredential; nothing else of the kubeconfig kept)")
        self._grant(run, spoke, hub, identity)
        mine = registration(spoke, facts, profile, access.fqdn or "", ca, ready.client_id, RELEASE_NAMESPACE)
        current = parse_registrations(ready.settings)
        ref = registration_ref(hub.cluster, mine.name)
        if current.get(mine.name) == mine.manifest:
            self.sender.applied(hub.cluster, mine.name, mine.manifest, ext)
            run.created.append(ref)
            run.step(f"registered on hub {hub.cluster.name} as {mine.name} ({len(current)} spokes on the hub)")
            return None if hub.own_argocd else run.done()
        run.created.append(ref)
        run.step(f"registration on hub {hub.cluster.name} as {mine.name} "
                 f"({'updated' if mine.name in current else 'new'}, {mine.size} bytes)")
        return self.sender.send(run, hub.cluster, ready.settings, {mine.name: mine.manifest})

    def busy(self, run: Run, spoke: ClusterRef, profile: Profile) -> Outcome | None:
        """A spoke waiting on its hub: one read of the hub's extension (and the ledger's batch), a wait while the hub
        runs an operation or the spoke's change is still queued and not due; None to run the whole pass."""
        hub = profile.hub.cluster if profile.hub is not None else None
        ext = self.api.get_extension(hub, EXTENSION_NAME) if hub is not None else None
        if hub is None or ext is None:
            return None
        if ext.in_progress:
            return run.wait("hub", f"hub {hub.name}'s extension is {ext.provisioning_state}: one hub operation at a "
                            "time", Awaited("hub"))
        later = self.sender.queued(hub, spoke_name(spoke))
        if later is None:
            return None
        return run.wait("hub", f"still queued for hub {hub.name}'s next PATCH", Awaited("hub"), later)

    def _hub_identity(self, hub: ClusterRef, client_id: str) -> ManagedIdentity:
        """The identity the service made for the hub's Argo CD: the one whose client id the hub's extension uses."""
        identity = self.api.get_identity(identity_for(hub, self.placement))
        if identity is None or identity.client_id.lower() != client_id.lower():
            raise PermanentError("HubIdentityUnknown", f"the hub {hub.name}'s Argo CD uses client id {client_id}, "
                                 "which is not the identity the service made for it; bootstrap the hub with the "
                                 "service (a request with its hub profile, hub.serve: true)")
        return identity

    def _grant(self, run: Run, spoke: ClusterRef, hub: Hub, identity: ManagedIdentity) -> None:
        """The profile's role for the hub identity at the spoke's scope (or in each of its namespaces)."""
        scopes = [f"{spoke.id}/namespaces/{ns}" for ns in hub.namespaces] or [spoke.id]
        for scope in scopes:
            name = role_assignment_name(scope, identity.principal_id, hub.role_id)
            if self.api.role_assignment_exists(spoke.subscription, scope, name):
                run.created.append(role_assignment_ref(scope, name))
                continue
            # PrincipalNotFound (a hub identity made seconds ago) is a race the reconciler retries (_RACES).
            run.created.append(self.api.create_role_assignment(
                spoke.subscription, scope, name, role_definition_id(spoke.subscription, hub.role_id),
                identity.principal_id))
            where = scope[len(spoke.id):].lstrip("/") or "the cluster"
            run.step(f"granted {hub.role_name} on {where} to hub {hub.cluster.name if hub.cluster else ''}'s identity "
                     f"({identity.client_id}); Azure applies it within {PROPAGATION_SECONDS // 60} minutes, until "
                     "then the hub's first syncs may be refused")

    def deregister(self, run: Run, created: tuple[str, ...]) -> Outcome | None:
        """Remove the spoke's registrations the ledger names from their hubs (the role assignments go with the
        identity steps' removal); waits while a hub runs an operation."""
        for item in created:
            parsed = parse_registration_ref(item)
            if parsed is None:
                continue
            hub, name = parsed
            if not self.sender.cancel(hub, name):
                return run.wait("hub", f"hub {hub.name}'s batch holding {name} is being sent", Awaited("hub"))
            ext = self.api.get_extension(hub, EXTENSION_NAME) if self.api.get_cluster(hub) is not None else None
            if ext is None or name not in parse_registrations(ext.settings):
                run.removed.append(item)
                run.step(f"registration {name} is not on hub {hub.name} (any more)")
                continue
            if ext.in_progress:
                return run.wait("hub", f"hub {hub.name}'s extension is {ext.provisioning_state}: one hub operation "
                                "at a time", Awaited("hub"))
            run.step(f"removing registration {name} from hub {hub.name}")
            return self.sender.send(run, hub, ext.settings, {name: ""})
        return None


def hub_spec(profile: Profile, spec: ExtensionSpec, ext: ExtensionState | None) -> ExtensionSpec:
    """A hub's own extension: workload identity for the application controller and the server too (their service
    accounts annotated with the identity's client id; the pods' `azure.workload.identity/use` label is the
    extension's own, from azure.workloadIdentity.enabled: a "true" label cannot pass Helm's typed --set), and the
    spokes' registrations it holds kept, which the hub's profile does not render."""
    if profile.hub is None or not profile.hub.serve:
        return spec
    client_id = spec.settings.get(WI_CLIENT)
    extra = {f"{component}.serviceAccount.annotations.azure\\.workload\\.identity/client-id": client_id
             for component in ("controller", "server")} if client_id else {}
    kept = kept_on_hub(ext.settings, spec.full_settings) if ext is not None else {}
    return replace(spec, settings={**spec.settings, **extra, **kept})
