"""What tests, the demo and the benchmarks set up and inspect in the local ARM, in Python rather than over HTTP:
subscriptions, resource groups, providers, clusters, extensions, identities, registries and Graph applications, and
what Azure offers where. `localazure.arm.emulator.ArmEmulator` adds the servers, the token endpoint, faults and the
request pipeline on top; every method here takes the emulator's lock, as its HTTP handlers do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from localazure.arm.async_operations import INSTALL_FAILURE_MESSAGE, Failure
from localazure.arm.clusters import AKS, ARC, cluster_event
from localazure.arm.common import Json, new_guid
from localazure.arm.extension_types import CLUSTER_TYPES, OfferedVersion
from localazure.arm.extensions import Extension
from localazure.arm.graph import Application
from localazure.arm.identities import AUDIENCE, FederatedCredential, Identity
from localazure.arm.providers import PROVIDER_STATES, Provider
from localazure.arm.routes import ArmRoutes
from localazure.arm.tokens import Principal

#: An Arc cluster's `connectivityStatus` values (`set_connectivity`).
CONNECTIVITY_STATES = ("Connected", "Connecting", "Offline", "Expired", "AgentNotInstalled")


class ArmSetup(ArmRoutes):
    """The emulator's state, set up and read from Python. The lock, the clock and the app's principal are the
    emulator's (`ArmEmulator.__init__`)."""

    _lock: threading.Lock
    _clock: Callable[[], float]
    _app: Principal

    # ------------------------------------------------------------------ state set-up (Python, not HTTP)

    def add_subscription(self, subscription: str, display_name: str | None = None, *,
                         provider_states: Mapping[str, str] | None = None) -> None:
        """A subscription in the tenant (listed by `GET /subscriptions`), with these provider states (default:
        the emulator's `default_provider_states`); nothing when it exists already."""
        with self._lock:
            self._subscription(subscription, display_name, provider_states)

    def add_resource_group(self, subscription: str, name: str, *, location: str = "eastus",
                           tags: Mapping[str, str] | None = None) -> str:
        """A resource group (clusters make theirs themselves); returns its id."""
        with self._lock:
            group = self._ensure_resource_group(subscription, name, location)
            group.tags = dict(tags or group.tags)
            return str(group.body()["id"])

    def set_permissions(self, actions: Iterable[str] | None, client_id: str | None = None) -> None:
        """Azure RBAC for one caller (default: the function app's identity, which asks for tokens without a
        client id): exactly these actions, as a role lists them; None allows everything again (the default)."""
        with self._lock:
            self._permissions.set(client_id or self._app.client_id, actions)

    def set_delegation(self, role_ids: Iterable[str]) -> None:
        """The delegation condition on the app's role: the role definition ids it may grant and revoke."""
        self.delegation[self._app.client_id] = frozenset(r.lower() for r in role_ids)

    def set_provider(self, subscription: str, namespace: str, state: str) -> None:
        """Set a namespace's registration; `Registering` completes provider_registration_seconds from now."""
        if state not in PROVIDER_STATES:
            raise ValueError(f"state must be one of {PROVIDER_STATES}, not {state!r}")
        with self._lock:
            self._subscription(subscription)
            ready_at = self._clock() + self.provider_registration_seconds
            self._providers[(subscription.lower(), namespace.lower())] = Provider(state, ready_at)

    def add_aks_cluster(
        self,
        subscription: str,
        resource_group: str,
        name: str,
        *,
        location: str = "eastus",
        node_counts: Sequence[int] = (4,),  # enough for HA (HA_NODES in localazure.arm.helm_failures)
        identity: str = "SystemAssigned",
        oidc_issuer: bool = True,
        workload_identity: bool = True,
        provisioning_state: str = "Succeeded",
        ready_after: float | None = None,
        tags: Mapping[str, str] | None = None,
        sku: str = "Base",
        kubernetes_version: str | None = None,
        pool_taints: Sequence[Sequence[str]] = (),
    ) -> Json:
        """Create an AKS cluster; returns the ResourceWriteSuccess event ARM would publish for it. `sku` Automatic
        is AKS Automatic; `pool_taints` are the agent pools' nodeTaints (`key=value:NoSchedule`), in order."""
        if identity not in ("SystemAssigned", "UserAssigned", "None"):
            raise ValueError(f"identity must be SystemAssigned, UserAssigned or None, not {identity!r}")
        with self._lock:
            return self._add_cluster(
                AKS, subscription, resource_group, name, location, tuple(node_counts), identity,
                oidc_issuer, workload_identity, provisioning_state, ready_after, tags, self._clock(), sku=sku,
                kubernetes_version=kubernetes_version, pool_taints=tuple(tuple(t) for t in pool_taints),
            )  # fmt: skip

    def add_arc_cluster(
        self,
        subscription: str,
        resource_group: str,
        name: str,
        *,
        location: str = "eastus",
        node_count: int = 4,
        oidc_issuer: bool = True,
        workload_identity: bool = True,
        provisioning_state: str = "Succeeded",
        ready_after: float | None = None,
        tags: Mapping[str, str] | None = None,
        connectivity: str = "Connected",
        kubernetes_version: str | None = None,
    ) -> Json:
        """Connect an Arc cluster; returns the ResourceWriteSuccess event ARM would publish for it."""
        with self._lock:
            return self._add_cluster(
                ARC, subscription, resource_group, name, location, (node_count,), "SystemAssigned",
                oidc_issuer, workload_identity, provisioning_state, ready_after, tags, self._clock(),
                connectivity=_connectivity(connectivity), kubernetes_version=kubernetes_version,
            )  # fmt: skip

    def set_connectivity(self, cluster_id: str, status: str) -> None:
        """An Arc cluster's agents go away (Offline, Expired, ...) or come back (Connected). While they are away,
        extension operations stand still; back, they carry on for the time they had left."""
        with self._lock:
            cluster = self._clusters[_key(cluster_id)]
            now = self._clock()
            cluster.connectivity = _connectivity(status)
            if status == "Connected" and cluster.disconnected_at is not None:
                for extension in cluster.extensions.values():
                    if extension.operation is not None:
                        extension.operation.ends += now - cluster.disconnected_at
                cluster.disconnected_at = None
            elif status != "Connected" and cluster.disconnected_at is None:
                cluster.disconnected_at = now

    def add_oss_argocd(self, cluster_id: str) -> None:
        """Open-source Argo CD installed in the cluster's `argocd` namespace (Helm or manifests), outside Azure:
        installing the extension there fails on the immutable fields of its Deployments (Azure/AKS#5582)."""
        with self._lock:
            self._clusters[_key(cluster_id)].oss_argocd = True

    def offer_argocd(
        self,
        version: str,
        *,
        train: str = "preview",
        unsupported: Mapping[str, Sequence[tuple[Sequence[str], Sequence[str]]]] | None = None,
        cluster_types: Sequence[str] = CLUSTER_TYPES,
    ) -> None:
        """Offer another Microsoft.ArgoCD version (or re-offer one with other rules), in every region that offers
        the type. `unsupported`: per cluster type (managedCluster, connectedCluster), (distributions, Kubernetes
        version ranges such as `<1.30` or `1.18..1.21`) it does not support; `cluster_types`: those that take it."""
        rules = {k: [{"distributions": list(d), "unsupportedVersions": list(r)} for d, r in v]
                 for k, v in (unsupported or {}).items()}
        with self._lock:
            self._offered = [v for v in self._offered if v.version != version] + [
                OfferedVersion(version, train, tuple(cluster_types), unsupported=rules)]

    def withdraw_argocd(self, location: str) -> None:
        """The region does not offer Microsoft.ArgoCD (the extension-types API answers 404 there)."""
        with self._lock:
            self._withdrawn.add(location.lower())

    def delete_cluster(self, cluster_id: str) -> Json:
        """Remove a cluster and its extensions; returns the ResourceDeleteSuccess event."""
        with self._lock:
            cluster = self._clusters.pop(_key(cluster_id))
            for extension in cluster.extensions.values():
                if extension.operation is not None:
                    extension.operation.canceled = True
            return cluster_event(cluster, deleted=True, now=self._clock(), tenant_id=self.tenant_id)

    def set_cluster_state(self, cluster_id: str, provisioning_state: str) -> None:
        """Pin a cluster's provisioningState (e.g. `Updating`, which makes AKS refuse extension writes)."""
        with self._lock:
            cluster = self._clusters[_key(cluster_id)]
            cluster.provisioning_state = provisioning_state
            cluster.ready_at = None

    def add_extension(
        self,
        cluster_id: str,
        name: str,
        *,
        extension_type: str = "Microsoft.ArgoCD",
        release_train: str = "preview",
        version: str | None = None,
        settings: Mapping[str, str] | None = None,
        provisioning_state: str = "Succeeded",
    ) -> None:
        """Put an already-installed extension on a cluster (e.g. a legacy `0.0.9-preview` Argo CD)."""
        with self._lock:
            cluster = self._clusters[_key(cluster_id)]
            now = self._clock()
            succeeded = provisioning_state == "Succeeded"
            failed = provisioning_state == "Failed"
            cluster.extensions[name.lower()] = Extension(
                cluster=cluster,
                name=name,
                extension_type=extension_type,
                release_train=release_train,
                auto_upgrade=version is None,
                version=version,
                scope={"cluster": {"releaseNamespace": "argocd"}},
                settings=dict(settings or {}),
                protected={},
                provisioning_state=provisioning_state,
                current_version=(version or self.extension_version) if succeeded else None,
                created=now,
                modified=now,
                failure=Failure("ExtensionOperationFailed", INSTALL_FAILURE_MESSAGE) if failed else None,
                failed_at=now,
                released=succeeded,
            )

    def add_identity(
        self, subscription: str, resource_group: str, name: str, *, location: str = "eastus",
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """A user-assigned identity someone else created (e.g. to check the service never adopts it); its id."""
        identity = Identity(subscription, resource_group, name, location, dict(tags or {}), self.tenant_id)
        with self._lock:
            self._ensure_resource_group(subscription, resource_group, location)
            self._identities[_key(identity.id)] = identity
            self._principals[identity.principal_id] = self._clock()
        return identity.id

    def remove_extension(self, cluster_id: str, name: str) -> None:
        """Take an extension off a cluster at once, as someone running `az k8s-extension delete --force` would."""
        with self._lock:
            del self._clusters[_key(cluster_id)].extensions[name.lower()]

    def set_identity_tags(self, identity_id: str, tags: Mapping[str, str]) -> None:
        """Replace an identity's tags, as someone editing it in the portal would."""
        with self._lock:
            self._identities[_key(identity_id)].tags = dict(tags)

    def add_registry(
        self, subscription: str, resource_group: str, name: str, *, role_mode: str = "LegacyRegistryPermissions"
    ) -> str:
        """A container registry that role assignments can target; returns its id. `role_mode` is its
        roleAssignmentMode: AbacRepositoryPermissions for ABAC repository permissions."""
        registry = (
            f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
            f"Microsoft.ContainerRegistry/registries/{name}"
        )
        with self._lock:
            self._ensure_resource_group(subscription, resource_group, "eastus")
            self._registries[registry.lower()] = {
                "id": registry, "name": name, "type": "Microsoft.ContainerRegistry/registries", "location": "eastus",
                "sku": {"name": "Standard", "tier": "Standard"},
                "properties": {"loginServer": f"{name.lower()}.azurecr.io", "provisioningState": "Succeeded",
                               "adminUserEnabled": False, "roleAssignmentMode": role_mode},
            }  # fmt: skip
        return registry

    def add_application(self, display_name: str, app_id: str | None = None) -> str:
        """An Entra application registration (Graph); returns its client (app) id."""
        application = Application(object_id=new_guid(), app_id=app_id or new_guid(), display_name=display_name)
        with self._lock:
            self._applications[application.object_id] = application
        return application.app_id

    def set_application_web(self, app_id: str, web: Json) -> None:
        """Replace an application's `web` (redirect URIs, logout URL), as someone editing it in the portal would."""
        with self._lock:
            next(a for a in self._applications.values() if a.app_id == app_id).web = dict(web)

    def add_application_credential(self, app_id: str, name: str, issuer: str, subject: str) -> None:
        """Give an application a federated credential directly (e.g. to fill it up to Graph's limit)."""
        with self._lock:
            application = next(a for a in self._applications.values() if a.app_id == app_id)
            application.credentials[new_guid()] = FederatedCredential(name, issuer, subject, [AUDIENCE])

    # ------------------------------------------------------------------ state inspection

    def application(self, app_id: str) -> Json:
        """An application as Graph returns it (redirect URIs included)."""
        with self._lock:
            return next(a for a in self._applications.values() if a.app_id == app_id).body()

    def application_credentials(self, app_id: str) -> list[Json]:
        with self._lock:
            application = next(a for a in self._applications.values() if a.app_id == app_id)
            return [application.credential_body(i, c) for i, c in application.credentials.items()]

    def role_assignments(self, scope: str | None = None) -> list[Json]:
        """Role assignments at a scope (all of them when None)."""
        with self._lock:
            return [a.body() for a in self._role_assignments.values() if scope is None or
                    a.scope.lower() == scope.lower()]

    def cluster(self, cluster_id: str) -> Json | None:
        """The cluster's ARM body at the newest api-version, or None."""
        with self._lock:
            cluster = self._clusters.get(_key(cluster_id))
            return None if cluster is None else cluster.body(cluster.kind.latest_api, self._clock())

    def extension(self, cluster_id: str, name: str) -> Json | None:
        with self._lock:
            self._settle(self._clock())
            cluster = self._clusters.get(_key(cluster_id))
            extension = None if cluster is None else cluster.extensions.get(name.lower())
            return None if extension is None else extension.body()

    def protected_settings(self, cluster_id: str, name: str) -> dict[str, str]:
        """What the extension holds in configurationProtectedSettings, which ARM never returns (tests only)."""
        with self._lock:
            cluster = self._clusters.get(_key(cluster_id))
            extension = None if cluster is None else cluster.extensions.get(name.lower())
            return {} if extension is None else dict(extension.protected)

    def identities(self) -> list[Json]:
        with self._lock:
            return [identity.body("2023-01-31") for identity in self._identities.values()]

    def federated_credentials(self, identity_id: str) -> list[Json]:
        """The identity's federated credentials ([] when the identity does not exist)."""
        with self._lock:
            identity = self._identities.get(_key(identity_id))
            if identity is None:
                return []
            return [identity.credential_body(c) for c in identity.credentials.values()]


def _connectivity(status: str) -> str:
    if status not in CONNECTIVITY_STATES:
        raise ValueError(f"connectivity must be one of {', '.join(CONNECTIVITY_STATES)}, not {status!r}")
    return status


def _key(resource_id: str) -> str:
    return resource_id.rstrip("/").lower()
