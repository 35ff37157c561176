"""Azure Resource Manager access over the real SDK clients; the only module that sees azure-core errors.

Implements `shared.bootstrap.reconciler.ClusterApi`. Clients are built on first use and cached per
subscription (never at import). `ARM_ENDPOINT` / `ARM_CA_BUNDLE` point them at the local emulator;
in Azure they are unset and the same code talks to management.azure.com with the app's identity.
azure-core's pipeline already retries 429/5xx (honouring Retry-After); what still fails is
translated into `AzureError` with Azure's own code and message. With a `Pacer`, every client's pipeline
paces its requests to ARM's limits first (`shared.azure.pacing_policy`).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from shared.azure.errors import AzureError
from shared.azure.hub_gateway import HubAccess
from shared.azure.pacing import Pacer
from shared.bootstrap.argocd_extension import ExtensionSpec, ExtensionState, VersionPin
from shared.bootstrap.cluster_facts import ClusterFacts, cluster_facts
from shared.bootstrap.cluster_ids import CLUSTER_TYPES, ClusterRef, InvalidClusterId, ListedCluster, parse_cluster_id
from shared.bootstrap.extension_versions import TYPE_NOT_FOUND, ExtensionTypeVersion, parse_versions
from shared.bootstrap.gitops import Protected
from shared.bootstrap.workload_identity import FederatedCredential, IdentityRef, ManagedIdentity
from shared.log_context import get_logger

ARM_SCOPE = "https://management.azure.com/.default"
#: Pinned API versions, each one Microsoft's specs publish (../shared/reference/azure-contract/api-versions.md;
#: tests/contract/test_azure_contract.py fails on any other). AKS 2025-10-01: a stable version that reports the
#: OIDC issuer and workload identity. Arc 2026-05-01: the hybridkubernetes readme's default (stable) tag and the
#: newest stable; Arc's stable 2024-01-01 does not return `oidcIssuerProfile` (2026-03-01 was a draft, never published).
CLUSTER_API_VERSIONS = {"aks": "2025-10-01", "arc": "2026-05-01"}
#: The extension-types API (not in azure-mgmt-kubernetesconfiguration 3.x, whose newest extension-types version is
#: 2022-01-15-preview, without the by-location versions path or its filters): one GET, sent through the resources
#: client's pipeline (auth, retries, pacing), so no package is added for it, and no client validates the type name
#: against the spec's `^[a-zA-Z][a-zA-Z0-9-_]*$`, which `Microsoft.ArgoCD`'s dot would fail. 2024-11-01-preview:
#: the newest version on the specs' main that serves `locations/{region}/extensionTypes/{type}/versions` with the
#: `releaseTrain` filter (2026-05-01 is in the extension-types readme but had not reached main when checked;
#: 2026-04-01 never did).
EXTENSION_TYPES_API_VERSION = "2024-11-01-preview"
#: A registry's `properties.roleAssignmentMode` (AbacRepositoryPermissions | LegacyRegistryPermissions) is in
#: Microsoft.ContainerRegistry 2025-05-01-preview (not in the stable 2025-04-01): azure-rest-api-specs via
#: Azure/bicep-types-az generated/containerregistry/microsoft.containerregistry/2025-05-01-preview/types.md.
REGISTRY_API_VERSION = "2025-05-01-preview"
T = TypeVar("T")

log = get_logger("argoboot.arm")


def without_auto_registration(client: T) -> T:
    """The client with azure-mgmt-core's ARMAutoResourceProviderRegistrationPolicy unlinked from its pipeline.

    Every ARM client carries it (ARMPipelineClient adds it, generated clients list it). On a 409
    MissingSubscriptionRegistration it registers the provider itself, a write nobody asked for (and one `plan` must
    never make), then sleeps 10 s at a time inside the request until Azure says Registered. The service registers
    what it needs as a step of its own that never blocks. No client option turns the policy off, hence the unlink."""
    from azure.mgmt.core.policies import ARMAutoResourceProviderRegistrationPolicy

    policies = client._client._pipeline._impl_policies  # type: ignore[attr-defined]
    for i, policy in enumerate(policies):
        if isinstance(policy, ARMAutoResourceProviderRegistrationPolicy) and i > 0:
            policies[i - 1].next = policy.next
            del policies[i]
            break
    return client


@contextmanager
def _azure_errors() -> Iterator[None]:
    """Translate azure-core exceptions into AzureError (status 0 when no response came back)."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    try:
        yield
    except HttpResponseError as exc:
        code = (exc.error.code if exc.error is not None and exc.error.code else None) or str(exc.status_code)
        message = (exc.error.message if exc.error is not None and exc.error.message else None) or exc.message
        retry_after = None
        if exc.response is not None:
            header = getattr(exc.response, "headers", {}).get("Retry-After")
            retry_after = float(header) if header and header.isdigit() else None
        raise AzureError(exc.status_code or 0, code, message, retry_after) from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise AzureError(0, "ConnectionError", str(exc)) from exc


class ArmGateway(HubAccess):
    """The reconciler's window on ARM: providers, clusters (AKS and Arc), cluster extensions, identities,
    federated credentials and role assignments."""

    def __init__(self, credential: Any, *, endpoint: str, ca_bundle: str | None = None,
                 retry_backoff: float = 0.8, pacer: Pacer | None = None) -> None:
        self._credential = credential
        self._pacer = pacer
        self._options: dict[str, Any] = {"base_url": endpoint, "credential_scopes": [ARM_SCOPE],
                                         "retry_backoff_factor": retry_backoff}
        if ca_bundle:
            self._options["connection_verify"] = ca_bundle
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _client(self, kind: str, subscription: str, build: Callable[..., T]) -> T:
        with self._lock:
            client = self._clients.get((kind, subscription))
            if client is None:
                options = dict(self._options)
                from shared.azure.recall_policy import RecallPolicy

                options["per_call_policies"] = [RecallPolicy()]  # a resumed pass's reads (shared.azure.pass_memory)
                if self._pacer is not None:
                    from shared.azure.pacing_policy import PacingPolicy

                    options["per_retry_policies"] = [PacingPolicy(self._pacer)]  # one per pipeline: chained by next
                client = build(self._credential, subscription, **options)
                self._clients[(kind, subscription)] = without_auto_registration(client)
            return client

    def _resources(self, subscription: str) -> Any:
        from azure.mgmt.resource.resources import ResourceManagementClient

        return self._client("resources", subscription, ResourceManagementClient)

    def _extensions(self, subscription: str) -> Any:
        from azure.mgmt.kubernetesconfiguration.v2023_05_01 import SourceControlConfigurationClient

        return self._client("extensions", subscription, SourceControlConfigurationClient).extensions

    def _identities(self, subscription: str) -> Any:
        from azure.mgmt.msi import ManagedServiceIdentityClient

        return self._client("msi", subscription, ManagedServiceIdentityClient)

    def _authorization(self, subscription: str) -> Any:
        from azure.mgmt.authorization import AuthorizationManagementClient

        return self._client("authorization", subscription, AuthorizationManagementClient)

    def provider_state(self, subscription: str, namespace: str) -> str:
        with _azure_errors():
            return str(self._resources(subscription).providers.get(namespace).registration_state)

    def register_provider(self, subscription: str, namespace: str) -> str:
        with _azure_errors():
            return str(self._resources(subscription).providers.register(namespace).registration_state)

    def get_cluster(self, cluster: ClusterRef) -> ClusterFacts | None:
        try:
            with _azure_errors():
                resource = self._resources(cluster.subscription).resources.get_by_id(
                    cluster.id, api_version=CLUSTER_API_VERSIONS[cluster.kind])
        except AzureError as exc:
            if exc.not_found:
                return None
            raise
        identity = {**resource.identity.as_dict(), "tenantId": resource.identity.tenant_id} \
            if resource.identity is not None else {}
        sku = resource.sku.as_dict() if resource.sku is not None else {}
        created = resource.system_data.created_at if resource.system_data is not None else None
        return cluster_facts(cluster.kind, {"location": resource.location, "identity": identity, "sku": sku,
                                            "tags": resource.tags or {}, "properties": resource.properties or {},
                                            "systemData": {"createdAt": created}})

    def resource_group_exists(self, subscription: str, name: str) -> bool:
        try:
            with _azure_errors():
                self._resources(subscription).resource_groups.get(name)
        except AzureError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def extension_type_versions(self, subscription: str, location: str, extension_type: str,
                                release_train: str | None) -> list[ExtensionTypeVersion] | None:
        """What the region offers of the extension type on the train (None: Azure's default train, no
        `releaseTrain` in the query); None when Azure says the type is not there (404 `ExtensionTypeNotFound`,
        naming it). Any other failure, the API itself not found (404 `InvalidResourceType`, as in regions that do
        not serve it) among them, or an answer without a `value` list, raises AzureError: the pre-flight cannot
        tell, and says so."""
        from urllib.parse import quote, urlencode

        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest
        from azure.mgmt.core.exceptions import ARMErrorFormat

        path = (f"/subscriptions/{quote(subscription)}/providers/Microsoft.KubernetesConfiguration/locations/"
                f"{quote(location)}/extensionTypes/{quote(extension_type)}/versions")
        query = urlencode({**({"releaseTrain": release_train} if release_train else {}),
                           "api-version": EXTENSION_TYPES_API_VERSION})
        client = self._resources(subscription)
        try:
            with _azure_errors():
                response = client.send_request(HttpRequest("GET", f"{self._options['base_url']}{path}?{query}"))
                if response.status_code != 200:
                    raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        except AzureError as exc:
            if exc.status == 404 and exc.code == TYPE_NOT_FOUND:
                return None
            raise
        try:
            return parse_versions(response.json())
        except ValueError as exc:
            raise AzureError(response.status_code, "UnreadableAnswer", f"{path}: {exc}") from exc

    def registry_role_mode(self, subscription: str, registry: str) -> str | None:
        """The registry's roleAssignmentMode (`LegacyRegistryPermissions` when it reports none, Azure's default), or
        None when the service may not read it (403): unknown."""
        from urllib.parse import quote, urlencode

        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest
        from azure.mgmt.core.exceptions import ARMErrorFormat

        query = urlencode({"api-version": REGISTRY_API_VERSION})
        url = f"{self._options['base_url']}{quote(registry)}?{query}"
        try:
            with _azure_errors():
                response = self._resources(subscription).send_request(HttpRequest("GET", url))
                if response.status_code != 200:
                    raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        except AzureError as exc:
            if exc.status == 403:
                return None
            raise
        properties = (response.json() or {}).get("properties") or {}
        return str(properties.get("roleAssignmentMode") or "LegacyRegistryPermissions")

    def list_clusters(self, subscription: str) -> list[ListedCluster]:
        """Every AKS and Arc cluster in the subscription, with its tags: one paged list per cluster type, which the
        role's cluster read actions allow (the generic resource list would need subscriptions/resources/read, the
        right to list every resource of the subscription)."""
        from urllib.parse import urlencode

        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest
        from azure.mgmt.core.exceptions import ARMErrorFormat

        client = self._resources(subscription)
        found = []
        for kind, (namespace, resource_type) in CLUSTER_TYPES.items():
            query = urlencode({"api-version": CLUSTER_API_VERSIONS[kind]})
            url: str | None = f"{self._options['base_url']}/subscriptions/{subscription}/providers/{namespace}/" \
                              f"{resource_type}?{query}"
            while url:
                try:
                    with _azure_errors():
                        response = client.send_request(HttpRequest("GET", url))
                        if response.status_code != 200:
                            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
                except AzureError as exc:
                    if exc.code == "MissingSubscriptionRegistration":  # the provider unused here: none of its type
                        break
                    raise
                page = response.json() or {}
                for resource in page.get("value") or []:
                    listed = _listed(resource)
                    if listed is not None:
                        found.append(listed)
                url = page.get("nextLink")
        return found

    def list_extensions(self, cluster: ClusterRef) -> list[ExtensionState]:
        """Every extension on the cluster (one paged list): the reconciler looks for Argo CD under any name."""
        with _azure_errors():
            return [_extension_state(e) for e in self._extensions(cluster.subscription).list(*_cluster_path(cluster))]

    def get_extension(self, cluster: ClusterRef, name: str) -> ExtensionState | None:
        try:
            with _azure_errors():
                ext = self._extensions(cluster.subscription).get(*_cluster_path(cluster), name)
        except AzureError as exc:
            if exc.not_found:
                return None
            raise
        return _extension_state(ext)

    def put_extension(self, cluster: ClusterRef, name: str, spec: ExtensionSpec) -> ExtensionState:
        """Start the install and return at once: the caller polls by continuation, not by blocking here."""
        from azure.mgmt.kubernetesconfiguration.v2023_05_01.models import Extension, Scope, ScopeCluster

        body = Extension(extension_type=spec.extension_type,
                         auto_upgrade_minor_version=spec.version is None, version=spec.version,
                         configuration_settings=dict(spec.settings),
                         configuration_protected_settings={k: v.value for k, v in spec.protected.items()} or None,
                         scope=Scope(cluster=ScopeCluster(release_namespace=spec.release_namespace)))
        # The model defaults releaseTrain to Stable and types it str; None leaves it out: Azure's default train.
        body.release_train = spec.release_train  # type: ignore[assignment]
        with _azure_errors():
            poller = self._extensions(cluster.subscription).begin_create(*_cluster_path(cluster), name, body,
                                                                          polling=False)
            return _extension_state(poller.result())


    def patch_extension(self, cluster: ClusterRef, name: str, settings: Mapping[str, str | None],
                        protected: Mapping[str, Protected] | None = None,
                        pin: VersionPin | None = None) -> ExtensionState:
        """Change only these settings (None removes one), the protected ones when given, and the version when `pin`
        says; returns at once like
        put_extension."""
        from azure.mgmt.kubernetesconfiguration.v2023_05_01.models import PatchExtension

        # The model defaults releaseTrain to Stable: None leaves it out, so the PATCH keeps the extension's train.
        # Its type says dict[str, str], but a None value is sent as JSON null, which removes the key.
        changes: dict[str, Any] = dict(settings)
        body = PatchExtension(configuration_settings=changes or None,
                              configuration_protected_settings={k: v.value for k, v in protected.items()}
                              if protected else None)
        body.release_train = None  # type: ignore[assignment]
        if pin is not None:  # unpinning sends autoUpgradeMinorVersion true: the train's version takes over
            body.auto_upgrade_minor_version = pin.version is None
            body.version = pin.version
        with _azure_errors():
            poller = self._extensions(cluster.subscription).begin_update(*_cluster_path(cluster), name, body,
                                                                          polling=False)
            return _extension_state(poller.result())

    def delete_extension(self, cluster: ClusterRef, name: str) -> None:
        """Start the uninstall (asynchronous on Azure's side; the caller polls by continuation)."""
        with _azure_errors():
            self._extensions(cluster.subscription).begin_delete(*_cluster_path(cluster), name, polling=False).result()

    def enable_workload_identity(self, cluster: ClusterRef) -> None:
        """Turn on the AKS OIDC issuer and workload identity, as `az aks update` does: GET, change, PUT back."""
        resources = self._resources(cluster.subscription).resources
        version = CLUSTER_API_VERSIONS[cluster.kind]
        with _azure_errors():
            resource = resources.get_by_id(cluster.id, api_version=version)
            properties = dict(resource.properties or {})
            properties["oidcIssuerProfile"] = {**(properties.get("oidcIssuerProfile") or {}), "enabled": True}
            security = dict(properties.get("securityProfile") or {})
            security["workloadIdentity"] = {"enabled": True}
            properties["securityProfile"] = security
            resource.properties = properties
            resources.begin_create_or_update_by_id(cluster.id, api_version=version, parameters=resource,
                                                   polling=False).result()

    def get_identity(self, ref: IdentityRef) -> ManagedIdentity | None:
        try:
            with _azure_errors():
                found = self._identities(ref.subscription).user_assigned_identities.get(ref.resource_group, ref.name)
        except AzureError as exc:
            if exc.not_found:
                return None
            raise
        return _identity(found)

    def put_identity(self, ref: IdentityRef, location: str, tags: Mapping[str, str]) -> ManagedIdentity:
        from azure.mgmt.msi.models import Identity

        with _azure_errors():
            created = self._identities(ref.subscription).user_assigned_identities.create_or_update(
                ref.resource_group, ref.name, Identity(location=location, tags=dict(tags)))
        return _identity(created)

    def delete_identity(self, ref: IdentityRef) -> None:
        with _azure_errors():
            self._identities(ref.subscription).user_assigned_identities.delete(ref.resource_group, ref.name)

    def list_identities(self, subscription: str) -> list[ManagedIdentity]:
        with _azure_errors():
            return [_identity(i) for i in
                    self._identities(subscription).user_assigned_identities.list_by_subscription()]

    def list_credentials(self, ref: IdentityRef) -> list[FederatedCredential]:
        with _azure_errors():
            pages = self._identities(ref.subscription).federated_identity_credentials.list(ref.resource_group,
                                                                                            ref.name)
            return [FederatedCredential(name=c.name, issuer=c.issuer, subject=c.subject,
                                        audiences=tuple(c.audiences or ()), id=c.id) for c in pages]

    def put_credential(self, ref: IdentityRef, credential: FederatedCredential) -> None:
        from azure.mgmt.msi.models import FederatedIdentityCredential

        body = FederatedIdentityCredential(issuer=credential.issuer, subject=credential.subject,
                                           audiences=list(credential.audiences))
        with _azure_errors():
            self._identities(ref.subscription).federated_identity_credentials.create_or_update(
                ref.resource_group, ref.name, credential.name, body)

    def delete_credential(self, ref: IdentityRef, name: str) -> None:
        with _azure_errors():
            self._identities(ref.subscription).federated_identity_credentials.delete(ref.resource_group, ref.name,
                                                                                     name)

    def role_assignment_exists(self, subscription: str, scope: str, name: str) -> bool:
        try:
            with _azure_errors():
                self._authorization(subscription).role_assignments.get(scope, name)
        except AzureError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def create_role_assignment(self, subscription: str, scope: str, name: str, role_definition_id: str,
                               principal_id: str) -> str:
        """Assign the role (principal type ServicePrincipal: skips Entra's lookup of a not-yet-replicated
        principal where Azure can); returns the assignment id."""
        from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

        body = RoleAssignmentCreateParameters(role_definition_id=role_definition_id, principal_id=principal_id,
                                              principal_type="ServicePrincipal")
        with _azure_errors():
            return str(self._authorization(subscription).role_assignments.create(scope, name, body).id)

    def delete_role_assignment(self, subscription: str, scope: str, name: str) -> None:
        with _azure_errors():
            self._authorization(subscription).role_assignments.delete(scope, name)


def _identity(found: Any) -> ManagedIdentity:
    return ManagedIdentity(id=str(found.id), location=str(found.location), client_id=str(found.client_id),
                           principal_id=str(found.principal_id), tags=dict(found.tags or {}))


def _cluster_path(cluster: ClusterRef) -> tuple[str, str, str, str]:
    return cluster.resource_group, cluster.namespace, cluster.resource_type, cluster.name


def _extension_state(ext: Any) -> ExtensionState:
    error = ext.error_info
    return ExtensionState(
        extension_type=str(ext.extension_type or ""), provisioning_state=str(ext.provisioning_state or "Unknown"),
        settings=dict(ext.configuration_settings or {}), version=ext.current_version or ext.version,
        error_code=error.code if error is not None else None,
        error_message=error.message if error is not None else None, name=str(ext.name or ""),
        pinned_version=ext.version, auto_upgrade=ext.auto_upgrade_minor_version is not False,
        modified_at=_when(ext.system_data.last_modified_at if ext.system_data is not None else None))


def _when(moment: Any) -> str | None:
    """A systemData time as ISO 8601 text (the SDK gives a datetime), for comparing one reading with the next."""
    return moment.isoformat() if moment is not None else None


def _listed(resource: Mapping[str, Any]) -> ListedCluster | None:
    try:
        ref = parse_cluster_id(str(resource.get("id")))
    except InvalidClusterId as exc:  # e.g. a resource group with non-ASCII letters, which Azure allows
        log.warning("cluster %s is outside the ids the service accepts, left alone: %s", resource.get("id"), exc)
        return None
    return ListedCluster(ref=ref, tags=dict(resource.get("tags") or {}))
