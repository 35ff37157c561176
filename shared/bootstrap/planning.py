"""Dry runs: the reconciler's own decisions, with every Azure write recorded instead of sent.

Used by `argoboot plan`. `PlanningApi` (ARM) and `PlanningDirectory` (Graph) wrap the real gateways:
reads go through, so the plan is made from what Azure reports now; writes are answered as if Azure
had accepted them and kept as `PlannedChange`s. The reconciler runs unchanged, so the plan cannot
drift from what `run` would do. Every method of `AzureApi` and `DirectoryApi` is classified here as a
read or a write: mypy refuses a wrapper that misses one where the reconciler takes the protocol.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from shared.azure.api import AzureApi, DirectoryApi, SecretsApi
from shared.azure.errors import UNREGISTERED, AzureError
from shared.azure.ledger import Owned
from shared.bootstrap.argocd_extension import EXTENSION_NAME, ExtensionSpec, ExtensionState, VersionPin, train_text
from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_ids import CLUSTER_TYPES, ClusterRef, ListedCluster
from shared.bootstrap.extension_versions import ExtensionTypeVersion
from shared.bootstrap.gitops import REGISTRATIONS_KEY, ROOT_KEY, Protected
from shared.bootstrap.hub_protection import HubProtection
from shared.bootstrap.outcome import Outcome
from shared.bootstrap.profiles import Profile
from shared.bootstrap.providers import EXTENSIONS_NAMESPACE, ProviderCache
from shared.bootstrap.reconciler import Reconciler
from shared.bootstrap.workload_identity import FederatedCredential, IdentityRef, ManagedIdentity
from shared.settings import Settings

ASSIGNED_BY_AZURE = "(assigned by Azure)"  # ids a planned create would get
CLUSTER_NAMESPACES = {ns.lower() for ns, _ in CLUSTER_TYPES.values()}  # AKS's and Arc's providers


@dataclass(frozen=True)
class SettingChange:
    """One configuration setting: what the extension has now (None: unset) and what it would have."""

    key: str
    current: str | None
    desired: str | None

    @property
    def kind(self) -> str:
        """add, change, remove or keep."""
        if self.current == self.desired:
            return "keep"
        if self.current is None:
            return "add"
        return "remove" if self.desired is None else "change"


@dataclass(frozen=True)
class PlannedChange:
    """A write the reconciler asked for: `action` names it (e.g. create-extension), `target` what it acts on."""

    action: str
    target: str
    detail: str
    settings: tuple[SettingChange, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What a run would do now: what it saw, the writes, and the outcome reached with them assumed done."""

    cluster: ClusterRef
    profile: str
    facts: ClusterFacts | None
    extension: ExtensionState | None
    changes: tuple[PlannedChange, ...]
    outcome: Outcome


class PlanningApi:
    """An `AzureApi` that reads through `api` and records writes.

    Reads: provider_state, get_cluster, get_extension, list_extensions, extension_type_versions,
    resource_group_exists, list_clusters, get_identity, list_identities, list_credentials,
    role_assignment_exists, registry_role_mode, spoke_ca. Writes: register_provider, enable_workload_identity,
    put_extension, patch_extension, delete_extension, put_identity, delete_identity, put_credential,
    delete_credential, create_role_assignment, delete_role_assignment.
    """

    def __init__(self, api: AzureApi, cluster: ClusterRef | None = None) -> None:
        self._api = api
        self._cluster = cluster  # the cluster planned: only its own provider keeps it from being read
        self.changes: list[PlannedChange] = []
        self.facts: dict[str, ClusterFacts | None] = {}  # by cluster key, as last read
        self._extensions: dict[tuple[str, str], ExtensionState | None] = {}
        self._registered: set[tuple[str, str]] = set()  # (subscription, namespace) the plan registers
        self._new_identities: set[str] = set()  # ids of identities the plan creates

    # Reads: passed through, except inside what the plan itself would create.

    def provider_state(self, subscription: str, namespace: str) -> str:
        return self._api.provider_state(subscription, namespace)

    def get_cluster(self, cluster: ClusterRef) -> ClusterFacts | None:
        unregistered = self._registers(cluster.subscription, cluster.namespace)
        facts = self.facts[cluster.key] = None if unregistered else self._api.get_cluster(cluster)
        return facts

    def get_extension(self, cluster: ClusterRef, name: str) -> ExtensionState | None:
        unregistered = self._registers(cluster.subscription, EXTENSIONS_NAMESPACE)
        state = self._extensions[(cluster.key, name.lower())] = \
            None if unregistered else self._api.get_extension(cluster, name)
        return state

    def list_extensions(self, cluster: ClusterRef) -> list[ExtensionState]:
        if self._registers(cluster.subscription, EXTENSIONS_NAMESPACE):
            return []
        found = self._api.list_extensions(cluster)
        self._extensions[(cluster.key, EXTENSION_NAME)] = None
        for ext in found:
            self._extensions[(cluster.key, ext.name.lower())] = ext
        return found

    def extension_type_versions(self, subscription: str, location: str, extension_type: str,
                                release_train: str | None) -> list[ExtensionTypeVersion] | None:
        if self._registers(subscription, EXTENSIONS_NAMESPACE):
            raise AzureError(409, UNREGISTERED, f"{EXTENSIONS_NAMESPACE} is not registered in subscription "
                             f"{subscription} (the plan registers it), so what region {location} offers cannot be "
                             "read without registering it")
        return self._api.extension_type_versions(subscription, location, extension_type, release_train)

    def resource_group_exists(self, subscription: str, name: str) -> bool:
        return self._api.resource_group_exists(subscription, name)

    def list_clusters(self, subscription: str) -> list[ListedCluster]:
        return self._api.list_clusters(subscription)

    def get_identity(self, ref: IdentityRef) -> ManagedIdentity | None:
        return None if ref.id.lower() in self._new_identities else self._api.get_identity(ref)

    def list_identities(self, subscription: str) -> list[ManagedIdentity]:
        return self._api.list_identities(subscription)

    def list_credentials(self, ref: IdentityRef) -> list[FederatedCredential]:
        return [] if ref.id.lower() in self._new_identities else self._api.list_credentials(ref)

    def role_assignment_exists(self, subscription: str, scope: str, name: str) -> bool:
        return self._api.role_assignment_exists(subscription, scope, name)

    def registry_role_mode(self, subscription: str, registry: str) -> str | None:
        return self._api.registry_role_mode(subscription, registry)

    def spoke_ca(self, spoke: ClusterRef) -> str:
        return self._api.spoke_ca(spoke)  # an ARM action, but it changes nothing: the spoke's CA, read

    def extension(self, cluster: ClusterRef, name: str) -> ExtensionState | None:
        """The extension as last read (None: absent, or not read)."""
        return self._extensions.get((cluster.key, name.lower()))

    def _registers(self, subscription: str, namespace: str) -> bool:
        """A namespace the plan registers holds no resources yet, and reading one would answer 409
        MissingSubscriptionRegistration, which azure-mgmt-core meets by registering it: a write."""
        return (subscription, namespace.lower()) in self._registered

    # Writes: recorded, answered as if accepted.

    def register_provider(self, subscription: str, namespace: str) -> str:
        self._registered.add((subscription, namespace.lower()))
        own = self._cluster is None or self._cluster.namespace.lower() == namespace.lower()
        if own and namespace.lower() in CLUSTER_NAMESPACES:  # the plan cannot read the cluster: it stops, as run waits
            self._plan("register-provider", namespace, f"register {namespace} in subscription {subscription} "
                       "(Azure takes a few minutes); the cluster cannot be read before, so every pre-flight check "
                       "is unknown until then")
            return "Registering"
        self._plan("register-provider", namespace, f"register {namespace} in subscription {subscription} "
                   "(Azure takes a few minutes; the install waits for it)")
        return "Registered"  # assumed done, so the plan goes on to the cluster and the extension

    def enable_workload_identity(self, cluster: ClusterRef) -> None:
        self._plan("enable-workload-identity", cluster.name,
                   f"turn on the OIDC issuer and workload identity of AKS cluster {cluster.name} (an AKS update; "
                   "the rest of the plan follows once it is done)")

    def put_extension(self, cluster: ClusterRef, name: str, spec: ExtensionSpec) -> ExtensionState:
        current = self.extension(cluster, name)
        before = dict(current.settings) if current is not None else {}
        keys = sorted(set(before) | set(spec.settings))
        settings = tuple(SettingChange(k, before.get(k), spec.settings.get(k)) for k in keys) + \
            _protected_changes(spec.protected)
        what = f"{spec.extension_type}, {train_text(spec.release_train)}, namespace {spec.release_namespace}"
        if current is None:
            self._plan("create-extension", name, f"install {name} ({what})", settings)
        else:
            why = current.provisioning_state + (f", {current.error_code}" if current.error_code else "")
            self._plan("replace-extension", name, f"re-install {name} ({what}); it is {why} now", settings)
        if spec.deferred:
            self._plan("update-extension", name, f"then, once {name} is Succeeded (Argo CD's CRDs exist), add the "
                       "root Application", tuple(SettingChange(k, None, v) for k, v in sorted(spec.deferred.items())))
        return ExtensionState(extension_type=spec.extension_type, provisioning_state="Creating",
                              settings=dict(spec.settings))

    def patch_extension(self, cluster: ClusterRef, name: str, settings: Mapping[str, str | None],
                        protected: Mapping[str, Protected] | None = None,
                        pin: VersionPin | None = None) -> ExtensionState:
        current = self.extension(cluster, name)
        before = dict(current.settings) if current is not None else {}
        changes = tuple(SettingChange(k, before.get(k), settings[k]) for k in sorted(settings)) + \
            _protected_changes(protected or {})
        why = "the root Application follows the install" if ROOT_KEY in settings and ROOT_KEY not in before \
            else "its settings drifted from the profile" if settings else "the profile's version changed"
        if pin is not None:
            old = (current.pinned_version if current is not None else None) or "the release train"
            why += f"; version {old} -> {pin.version or 'the release train'}"
        if REGISTRATIONS_KEY in settings:
            why = f"on hub {cluster.name}: its spokes' registrations (cluster Secrets) change"
        self._plan("update-extension", name, f"update {name}: {why}", changes)
        after = {k: v for k, v in {**before, **settings}.items() if v is not None}
        return ExtensionState(extension_type=current.extension_type if current else "", provisioning_state="Updating",
                              settings=after)

    def delete_extension(self, cluster: ClusterRef, name: str) -> None:
        current = self.extension(cluster, name)
        version = f" {current.version}" if current is not None and current.version else ""
        self._plan("delete-extension", name, f"uninstall {name}{version}, as --reinstall asks: Argo CD's CRDs go "
                   "with it, and every Application, ApplicationSet and AppProject on the cluster with them; 1.x is "
                   "installed once it is gone (the plan stops at the removal)")

    def put_identity(self, ref: IdentityRef, location: str, tags: Mapping[str, str]) -> ManagedIdentity:
        self._new_identities.add(ref.id.lower())
        self._plan("create-identity", ref.name, f"create managed identity {ref.name} in {ref.resource_group} "
                   f"({location}) with the service's ownership tags ({', '.join(sorted(tags))})")
        return ManagedIdentity(id=ref.id, location=location, client_id=ASSIGNED_BY_AZURE,
                               principal_id=ASSIGNED_BY_AZURE, tags=dict(tags))

    def delete_identity(self, ref: IdentityRef) -> None:
        self._plan("delete-identity", ref.name, f"delete managed identity {ref.name} in {ref.resource_group}")

    def put_credential(self, ref: IdentityRef, credential: FederatedCredential) -> None:
        self._plan("put-federated-credential", credential.name,
                   f"federated credential {credential.name} on {ref.name}: subject {credential.subject}, "
                   f"issuer {credential.issuer}")

    def delete_credential(self, ref: IdentityRef, name: str) -> None:
        self._plan("delete-federated-credential", name, f"delete federated credential {name} from {ref.name}")

    def create_role_assignment(self, subscription: str, scope: str, name: str, role_definition_id: str,
                               principal_id: str) -> str:
        self._plan("create-role-assignment", scope.rsplit("/", 1)[-1],
                   f"assign role {role_definition_id.rsplit('/', 1)[-1]} on {scope} to the cluster's identity")
        return f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"

    def delete_role_assignment(self, subscription: str, scope: str, name: str) -> None:
        self._plan("delete-role-assignment", name, f"delete role assignment {name} on {scope}")

    def _plan(self, action: str, target: str, detail: str, settings: tuple[SettingChange, ...] = ()) -> None:
        self.changes.append(PlannedChange(action, target, detail, settings))


def _protected_changes(protected: Mapping[str, Protected]) -> tuple[SettingChange, ...]:
    """Protected settings as a plan shows them: by label (`<from Key Vault: name>`), never by value; Azure never
    returns them, so the current value is unknown."""
    return tuple(SettingChange(k, None, v.label) for k, v in sorted(protected.items()))


class PlanningDirectory:
    """A `DirectoryApi` (Graph) that reads through and records writes.

    Reads: find_application, list_credentials, redirect_uris. Writes: add_credential, delete_credential,
    add_redirect_uris.
    """

    def __init__(self, directory: DirectoryApi, changes: list[PlannedChange]) -> None:
        self._directory = directory
        self._changes = changes

    def find_application(self, client_id: str) -> str | None:
        return self._directory.find_application(client_id)

    def list_credentials(self, object_id: str) -> list[FederatedCredential]:
        return self._directory.list_credentials(object_id)

    def add_credential(self, object_id: str, credential: FederatedCredential, description: str) -> str:
        self._changes.append(PlannedChange("create-sso-credential", credential.name,
                                           f"federated credential {credential.name} on Entra application "
                                           f"{object_id} for argocd-server: subject {credential.subject}"))
        return ASSIGNED_BY_AZURE

    def redirect_uris(self, object_id: str) -> tuple[list[str], list[str]]:
        return self._directory.redirect_uris(object_id)

    def add_redirect_uris(self, object_id: str, web: list[str], public: list[str]) -> None:
        self._changes.append(PlannedChange("add-sso-redirect-uris", object_id, "add redirect URIs to Entra "
                                           f"application {object_id}: " + ", ".join([*web, *public])))

    def delete_credential(self, object_id: str, credential_id: str) -> None:
        self._changes.append(PlannedChange("delete-sso-credential", credential_id,
                                           f"delete federated credential {credential_id} from Entra application "
                                           f"{object_id}"))


def make_plan(api: AzureApi, directory: DirectoryApi, settings: Settings, cluster: ClusterRef,
              profile: Profile, secrets: SecretsApi | None = None, *, adopt: bool = False,
              reinstall: bool = False, ledger: Owned | None = None,
              hub_protection: HubProtection | None = None) -> Plan:
    """One reconcile as a new request would run it (a failed install is re-installed), writes withheld. A Key
    Vault secret is read (a read), and shown only by its label. `adopt` plans the take-over of an Argo CD
    extension the service did not create; `reinstall` the removal of a 0.0.x one; `ledger` is what the ledger
    says the service owns, as `run` reads it, so the plan decides ownership (and whether protected settings need
    sending) from the same inputs; `hub_protection` (records=False) shows a hub's protected settings in a spoke's
    hub PATCH."""
    planning = PlanningApi(api, cluster)
    reconciler = Reconciler(api=planning, directory=PlanningDirectory(directory, planning.changes), settings=settings,
                            providers=ProviderCache(clock=time.time, ttl=0), secrets=secrets,
                            hub_protection=hub_protection)
    outcome = reconciler.reconcile(cluster, profile, may_reinstall=True, adopt=adopt, owned=ledger or Owned(),
                                   reinstall=reinstall)
    return Plan(cluster=cluster, profile=profile.name, facts=planning.facts.get(cluster.key),
                extension=planning.extension(cluster, EXTENSION_NAME), changes=tuple(planning.changes),
                outcome=outcome)
