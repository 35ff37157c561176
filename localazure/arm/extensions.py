"""Cluster extensions (Microsoft.KubernetesConfiguration) and their async operations.

Writes answer at once with an Azure-AsyncOperation URL; the operation then runs for
extension_{install,update,delete}_seconds on the emulator's clock, and `_settle` applies its outcome.
Extension ids say `/resourceGroups/` (where AKS ids say `/resourcegroups/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from localazure.arm import extension_echo
from localazure.arm.async_operations import (
    FORCE_DELETE_BODY,
    Failure,
    Operation,
)
from localazure.arm.clusters import Cluster, ClusterRoutes, refuse_busy_cluster
from localazure.arm.common import Json, iso, new_guid, not_found_message
from localazure.arm.extension_types import LATEST_ARGOCD_VERSION, ExtensionTypeRoutes, default_train
from localazure.arm.helm_failures import helm_failure
from localazure.arm.providers import unknown
from localazure.arm.request import ArmError, Call, allow, string_map
from localazure.arm.server import Reply


@dataclass
class Extension:
    """A cluster extension (Microsoft.KubernetesConfiguration/extensions)."""

    cluster: Cluster
    name: str
    extension_type: str
    release_train: str
    auto_upgrade: bool
    version: str | None
    scope: Json | None
    settings: dict[str, str]
    protected: dict[str, str]
    provisioning_state: str
    current_version: str | None
    created: float
    modified: float
    failure: Failure | None = None
    failed_at: float = 0.0
    operation: Operation | None = None
    identity: Json | None = None
    released: bool = False  # a Helm release of it has succeeded (the chart's CRDs exist)
    created_by: tuple[str, str] = extension_echo.SOMEONE
    modified_by: tuple[str, str] = extension_echo.SOMEONE

    @property
    def id(self) -> str:
        c = self.cluster
        return (
            f"/subscriptions/{c.subscription}/resourceGroups/{c.resource_group}/providers/{c.kind.namespace}/"
            f"{c.kind.resource_type}/{c.name}/providers/Microsoft.KubernetesConfiguration/extensions/{self.name}"
        )

    @property
    def async_path(self) -> str:
        """The extension path as ARM spells it in Azure-AsyncOperation (`ConnectedClusters`)."""
        c = self.cluster
        return (
            f"/subscriptions/{c.subscription}/resourceGroups/{c.resource_group}/providers/{c.kind.namespace}/"
            f"{c.kind.async_segment}/{c.name}/providers/Microsoft.KubernetesConfiguration/extensions/{self.name}"
        )

    def body(self) -> Json:
        properties: Json = {
            # Echoed as it was sent (`Microsoft.ArgoCD` or `microsoft.argocd`): clients compare case-insensitively.
            "extensionType": self.extension_type,
            "autoUpgradeMinorVersion": self.auto_upgrade,
            "releaseTrain": self.release_train,
            "version": self.version,
            "scope": self.scope,
            "configurationSettings": dict(self.settings),
            "configurationProtectedSettings": {},  # write-only: never echoed
            "provisioningState": self.provisioning_state,
            "currentVersion": self.current_version,
            "statuses": [],
            "aksAssignedIdentity": None,
            "isSystemExtension": False,
        }
        if self.provisioning_state == "Failed" and self.failure:
            properties["errorInfo"] = self.failure._asdict()
            properties["statuses"] = [
                {
                    "code": self.failure.code,
                    "displayStatus": None,
                    "level": "Error",
                    "message": self.failure.message,
                    "time": iso(self.failed_at),
                }
            ]
        body: Json = {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.KubernetesConfiguration/extensions",
            "systemData": extension_echo.system_data(self.created, self.created_by, self.modified, self.modified_by),
            "properties": properties,
        }
        if self.identity is not None:
            body["identity"] = dict(self.identity)
        return body


class ExtensionRoutes(ClusterRoutes, ExtensionTypeRoutes):
    def __init__(self) -> None:
        super().__init__()
        self.extension_install_seconds = 120.0
        self.extension_update_seconds = 60.0
        self.extension_delete_seconds = 60.0
        self.extension_version = LATEST_ARGOCD_VERSION
        self._operations: dict[str, Operation] = {}  # by operation id
        self._install_failures: list[Failure] = []

    def _settle(self, now: float) -> None:
        """Finish the extension operations whose time has come (state advances lazily, on access)."""
        for cluster in self._clusters.values():
            for key, extension in list(cluster.extensions.items()):
                operation = extension.operation
                if operation is None or now < operation.ends or cluster.disconnected_at is not None:
                    continue  # an Arc cluster's agents apply operations only while connected
                extension.operation = None
                extension.modified = operation.ends
                if operation.activity == "Deleting":
                    del cluster.extensions[key]
                elif operation.failure is not None:
                    extension.provisioning_state = "Failed"
                    extension.failure = operation.failure
                    extension.failed_at = operation.ends
                else:
                    extension.provisioning_state = "Succeeded"
                    extension.failure = None
                    extension.released = True
                    extension.current_version = extension.version or self.extension_version

    def _refuse_unoffered_version(self, cluster: Cluster, extension: Extension) -> None:
        """A pinned Argo CD version must be one the region offers on the extension's train."""
        if extension.extension_type.lower() != "microsoft.argocd" or extension.version is None:
            return
        if not self.offers(cluster.location, extension.version, extension.release_train):
            raise ArmError(
                400,
                "ExtensionTypeVersionNotFound",
                f"Version '{extension.version}' of extension type '{extension.extension_type}' is not available in "
                f"location '{cluster.location}' for release train '{extension.release_train}'.",
            )

    def _parent_cluster(self, call: Call) -> Cluster:
        lower = call.lower
        if lower[0] != "subscriptions" or lower[2] != "resourcegroups" or lower[4] != "providers":
            unknown(call)
        cluster = self._clusters.get("/" + "/".join(lower[:8]))
        if cluster is None:
            raise ArmError(
                404,
                "ParentResourceNotFound",
                "Can not perform requested operation on nested resource. "
                f"Parent resource '{call.segments[7]}' not found.",
            )
        return cluster

    def _extension_list(self, call: Call) -> Reply:
        allow(call, "GET")
        cluster = self._parent_cluster(call)
        return Reply(200, {"value": [e.body() for e in cluster.extensions.values()], "nextLink": None})

    def _extension(self, call: Call) -> Reply:
        allow(call, "GET", "PUT", "PATCH", "DELETE")
        cluster = self._parent_cluster(call)
        name = call.segments[11]
        extension = cluster.extensions.get(name.lower())
        if call.method == "PUT":
            return self._put_extension(call, cluster, name, extension)
        if call.method == "DELETE":
            return self._delete_extension(call, cluster, extension)
        if extension is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                not_found_message("Microsoft.KubernetesConfiguration", "extensions", name, cluster.resource_group),
            )
        if call.method == "PATCH":
            return self._patch_extension(call, extension)
        return Reply(200, extension.body())

    def _put_extension(self, call: Call, cluster: Cluster, name: str, existing: Extension | None) -> Reply:
        properties = _properties(call.body)
        extension_type = properties.get("extensionType")
        if not isinstance(extension_type, str) or not extension_type:
            raise ArmError(400, "InvalidRequestContent", "The property 'extensionType' is required.")
        if existing is not None:
            _refuse_busy_extension(existing)
            if existing.extension_type.lower() != extension_type.lower():
                raise ArmError(
                    400,
                    "BadRequest",
                    f"The extensionType of extension '{existing.name}' cannot be changed; delete and recreate it.",
                )
        refuse_busy_cluster(cluster, call.now)
        settings = string_map(properties.get("configurationSettings"), "configurationSettings")
        protected = string_map(properties.get("configurationProtectedSettings"), "configurationProtectedSettings")
        identity = extension_echo.identity(call.body.get("identity"), existing.identity if existing else None,
                                           self.tenant_id)
        failure = self._install_failures.pop(0) if self._install_failures else None
        version = properties.get("version")
        extension = Extension(
            cluster=cluster,
            name=existing.name if existing else name,
            extension_type=extension_type,
            release_train=str(properties.get("releaseTrain") or default_train(extension_type)),
            auto_upgrade=bool(properties.get("autoUpgradeMinorVersion", True)),
            version=version if isinstance(version, str) else None,
            scope=extension_echo.scope(properties.get("scope"), extension_type, existing.name if existing else name),
            settings=settings,
            protected=protected,
            provisioning_state="Creating",
            # Azure shows the version being installed from the start (as `Creating`), not once it succeeded.
            current_version=existing.current_version if existing else version if isinstance(version, str) else
            self.extension_version,
            created=existing.created if existing else call.now,
            modified=call.now,
            identity=identity,
            released=existing.released if existing else False,
            created_by=existing.created_by if existing else call.actor,
            modified_by=call.actor,
        )
        cluster.extensions[name.lower()] = extension
        if identity is not None:  # the RP made its principal: role assignments can name it once replicated
            self._principals.setdefault(identity["principalId"], call.now)
        activity = "Updating" if existing else "Creating"
        seconds = self.extension_update_seconds if existing else self.extension_install_seconds
        if existing is None and self.durations is not None:
            seconds = self.durations.install(extension.id, cluster.location, settings, seconds)
        self._refuse_unoffered_version(cluster, extension)
        operation = self._start(extension, activity, call.now + seconds, failure or helm_failure(extension, activity))
        headers = self._async_headers(call, extension, operation, "PT48H")
        if existing is not None:
            return Reply(200, extension.body(), headers)
        # The wire also carries a Location at the regional RP host. Clients must ignore it, and the
        # SDK does: for a PUT with final-state-via azure-async-operation azure-core GETs the request URL.
        headers["Location"] = (
            f"https://{cluster.location}.rp.kubernetesconfiguration.azure.com{quote(extension.id)}?api-Version={call.api_version}"
        )
        return Reply(201, extension.body(), headers)

    def _patch_extension(self, call: Call, extension: Extension) -> Reply:
        """PATCH: 200 when nothing changes, else 202 and an update. A setting patched to null is removed
        (the reference is silent on null; this follows JSON merge-patch, which ARM PATCH generally uses).
        Protected settings are not merged: Azure's documentation says those left out of an update are deleted, and
        `az k8s-extension update` always sends `configurationProtectedSettings: {}`, so a PATCH without them (absent
        or empty) drops them all, and one with them keeps exactly those it sends."""
        properties = _properties(call.body, required=False)
        _refuse_busy_extension(extension)
        new_type = properties.get("extensionType")
        if isinstance(new_type, str) and new_type.lower() != extension.extension_type.lower():
            raise ArmError(400, "BadRequest", "The property 'extensionType' cannot be patched.")
        if "scope" in properties and extension_echo.scope(
            properties["scope"], extension.extension_type, extension.name
        ) != extension.scope:
            raise ArmError(400, "BadRequest", "The property 'scope' cannot be patched.")
        settings = _merge(extension.settings, properties.get("configurationSettings"), "configurationSettings")
        protected = _merge({}, properties.get("configurationProtectedSettings") or {}, "configurationProtectedSettings")
        release_train = str(properties.get("releaseTrain") or extension.release_train)
        auto_upgrade = bool(properties.get("autoUpgradeMinorVersion", extension.auto_upgrade))
        # Back on the train (autoUpgradeMinorVersion true) without a version: the pin is dropped.
        version = properties.get("version", None if auto_upgrade else extension.version)
        before = (
            extension.settings,
            extension.protected,
            extension.release_train.lower(),
            extension.version,
            extension.auto_upgrade,
        )
        if (settings, protected, release_train.lower(), version, auto_upgrade) == before:
            return Reply(200, extension.body())
        refuse_busy_cluster(extension.cluster, call.now)
        extension.settings, extension.protected = settings, protected
        extension.release_train, extension.auto_upgrade = release_train, auto_upgrade
        extension.version = version if isinstance(version, str) else None
        extension.modified, extension.modified_by = call.now, call.actor
        self._refuse_unoffered_version(extension.cluster, extension)
        failure = helm_failure(extension, "Updating")
        operation = self._start(extension, "Updating", call.now + self.extension_update_seconds, failure)
        return Reply(202, extension.body(), self._async_headers(call, extension, operation, "PT48H"))

    def _delete_extension(self, call: Call, cluster: Cluster, extension: Extension | None) -> Reply:
        if extension is None:
            return Reply(204)
        if call.query.get("forcedelete", "").lower() == "true":
            if extension.operation is not None:
                extension.operation.canceled = True
            del cluster.extensions[extension.name.lower()]
            return Reply(200, FORCE_DELETE_BODY)
        _refuse_busy_extension(extension)
        refuse_busy_cluster(cluster, call.now)
        seconds = self.extension_delete_seconds
        if self.durations is not None:
            seconds = self.durations.uninstall(extension.id, seconds)
        operation = self._start(extension, "Deleting", call.now + seconds, None)
        return Reply(202, None, self._async_headers(call, extension, operation, "PT1H"))

    def _operation(self, call: Call) -> Reply:
        allow(call, "GET")
        operation = self._operations.get(call.lower[13])
        if operation is None or operation.resource_id.lower() != "/" + "/".join(call.lower[:12]):
            raise ArmError(404, "ResourceNotFound", f"The async operation '{call.segments[13]}' was not found.")
        return Reply(200, operation.body(call.now))

    def _start(self, extension: Extension, activity: str, ends: float, failure: Failure | None) -> Operation:
        operation = Operation(new_guid(), extension.id, activity, ends, failure)
        self._operations[operation.op_id] = operation
        extension.operation = operation
        extension.provisioning_state = activity
        return operation

    def _async_headers(self, call: Call, extension: Extension, operation: Operation, timeout: str) -> dict[str, str]:
        """Azure-AsyncOperation as the RP spells it (`ConnectedClusters`, the query `api-Version`), and the
        relative Operation-Location of the spec's examples; both name the same operation."""
        url = f"{self.url}{quote(extension.async_path)}/operations/{operation.op_id}?api-Version={call.api_version}"
        return {
            "Azure-AsyncOperation": url,
            "Operation-Location": f"{quote(extension.id)}/operations/{operation.op_id}",
            "x-ms-async-operation-timeout": timeout,
        }


def _refuse_busy_extension(extension: Extension) -> None:
    """One operation at a time per extension (inferred: the RP's behaviour here is undocumented)."""
    if extension.operation is not None:
        raise ArmError(
            409,
            "Conflict",
            f"An operation ({extension.operation.activity}) is already in progress on extension '{extension.name}'. "
            "Please wait for it to finish before starting a new operation.",
        )


def _properties(body: Any, *, required: bool = True) -> Json:
    properties = body.get("properties") if isinstance(body, dict) else None
    if isinstance(properties, dict):
        return properties
    if required or properties is not None:
        raise ArmError(400, "InvalidRequestContent", "The request body must contain an object 'properties'.")
    return {}


def _merge(current: dict[str, str], patch: Any, name: str) -> dict[str, str]:
    if patch is None:
        return dict(current)
    if not isinstance(patch, dict) or not all(v is None or isinstance(v, str) for v in patch.values()):
        raise ArmError(400, "InvalidRequestContent", f"The property '{name}' must be a map of strings.")
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
