"""Cluster extensions (Microsoft.KubernetesConfiguration) and their async operations.

Writes answer at once with an Azure-AsyncOperation URL; the operation then runs for
extension_{install,update,delete}_seconds on the emulator's clock, and `_settle` applies its outcome.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from localazure.arm.clusters import refuse_busy_cluster
from localazure.arm.model import (
    Cluster,
    Extension,
    Failure,
    Json,
    Operation,
    ha_timeout_message,
    new_guid,
    not_found_message,
)
from localazure.arm.request import ArmError, Call, allow, string_map, unknown
from localazure.arm.server import Reply
from localazure.arm.state import ArmState

#: What `forceDelete=true` answers: a serialised .NET HttpResponseMessage (seen on the wire).
_FORCE_DELETE_BODY: Json = {
    "version": "1.1",
    "content": {"headers": []},
    "statusCode": 200,
    "reasonPhrase": "OK",
    "headers": [],
    "trailingHeaders": [],
    "requestMessage": None,
    "isSuccessStatusCode": True,
}


class ExtensionRoutes(ArmState):
    def _settle(self, now: float) -> None:
        """Finish the extension operations whose time has come (state advances lazily, on access)."""
        for cluster in self._clusters.values():
            for key, extension in list(cluster.extensions.items()):
                operation = extension.operation
                if operation is None or now < operation.ends:
                    continue
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
                    extension.current_version = extension.version or self.extension_version

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
        failure = self._install_failures.pop(0) if self._install_failures else None
        version = properties.get("version")
        extension = Extension(
            cluster=cluster,
            name=existing.name if existing else name,
            extension_type=extension_type,
            release_train=str(properties.get("releaseTrain") or "Stable"),
            auto_upgrade=bool(properties.get("autoUpgradeMinorVersion", True)),
            version=version if isinstance(version, str) else None,
            scope=properties.get("scope"),
            settings=settings,
            protected=protected,
            provisioning_state="Creating",
            current_version=existing.current_version if existing else None,
            created=existing.created if existing else call.now,
            modified=call.now,
        )
        cluster.extensions[name.lower()] = extension
        activity = "Updating" if existing else "Creating"
        seconds = self.extension_update_seconds if existing else self.extension_install_seconds
        operation = self._start(extension, activity, call.now + seconds, failure or _ha_failure(extension, activity))
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
        (the reference is silent on null; this follows JSON merge-patch, which ARM PATCH generally uses)."""
        properties = _properties(call.body, required=False)
        _refuse_busy_extension(extension)
        new_type = properties.get("extensionType")
        if isinstance(new_type, str) and new_type.lower() != extension.extension_type.lower():
            raise ArmError(400, "BadRequest", "The property 'extensionType' cannot be patched.")
        if "scope" in properties and properties["scope"] != extension.scope:
            raise ArmError(400, "BadRequest", "The property 'scope' cannot be patched.")
        settings = _merge(extension.settings, properties.get("configurationSettings"), "configurationSettings")
        protected = _merge(
            extension.protected, properties.get("configurationProtectedSettings"), "configurationProtectedSettings"
        )
        release_train = str(properties.get("releaseTrain") or extension.release_train)
        version = properties.get("version", extension.version)
        auto_upgrade = bool(properties.get("autoUpgradeMinorVersion", extension.auto_upgrade))
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
        extension.modified = call.now
        failure = _ha_failure(extension, "Updating")
        operation = self._start(extension, "Updating", call.now + self.extension_update_seconds, failure)
        return Reply(202, extension.body(), self._async_headers(call, extension, operation, "PT48H"))

    def _delete_extension(self, call: Call, cluster: Cluster, extension: Extension | None) -> Reply:
        if extension is None:
            return Reply(204)
        if call.query.get("forcedelete", "").lower() == "true":
            if extension.operation is not None:
                extension.operation.canceled = True
            del cluster.extensions[extension.name.lower()]
            return Reply(200, _FORCE_DELETE_BODY)
        _refuse_busy_extension(extension)
        refuse_busy_cluster(cluster, call.now)
        operation = self._start(extension, "Deleting", call.now + self.extension_delete_seconds, None)
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
        """Azure-AsyncOperation as the RP spells it: `ConnectedClusters`, and the query `api-Version`."""
        url = f"{self.url}{quote(extension.async_path)}/operations/{operation.op_id}?api-Version={call.api_version}"
        return {"Azure-AsyncOperation": url, "x-ms-async-operation-timeout": timeout}


def _refuse_busy_extension(extension: Extension) -> None:
    """One operation at a time per extension (inferred: the RP's behaviour here is undocumented)."""
    if extension.operation is not None:
        raise ArmError(
            409,
            "Conflict",
            f"An operation ({extension.operation.activity}) is already in progress on extension '{extension.name}'. "
            "Please wait for it to finish before starting a new operation.",
        )


def _ha_failure(extension: Extension, activity: str) -> Failure | None:
    """Argo CD with redis-ha (the extension's default) never becomes ready on fewer than 3 nodes."""
    ha = extension.settings.get("redis-ha.enabled", "true").lower() != "false"
    if extension.extension_type.lower() == "microsoft.argocd" and ha and extension.cluster.node_count < 3:
        return Failure("ExtensionOperationFailed", ha_timeout_message("Create" if activity == "Creating" else "Update"))
    return None


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
