"""The rest of the extension-types API (`az k8s-extension extension-types ...`): the types a region or a cluster
offers, one type, and one version, beside the region's version list (`localazure.arm.extension_types`).

Paths and shapes of the published spec (extensionTypes, 2024-11-01-preview and 2023-05-01-preview; api-versions.md
§3b): by region `.../locations/{region}/extensionTypes[/{type}[/versions/{version}]]`, by cluster
`{cluster id}/providers/Microsoft.KubernetesConfiguration/extensionTypes[/{type}[/versions[/{version}]]]`.
A type is `{id, name, type, properties: {supportedClusterTypes, supportedScopes: {defaultScope,
clusterScopeSettings: {properties: {defaultReleaseNamespace}}}, publisher, isSystemExtension}}`; the lists are
`{value, nextLink}`, filtered by `releaseTrain` (the spec: "default value is stable") and `clusterType` (and a
version list by `majorVersion` and `showLatest`). A cluster is offered what its region offers for its cluster type.
Only Microsoft.ArgoCD is registered here: another type, or one withdrawn from the region, is 404
`ExtensionTypeNotFound`.
"""

from __future__ import annotations

from localazure.arm.api_versions import supported_versions
from localazure.arm.common import Json
from localazure.arm.extension_types import (
    ARGOCD,
    CLUSTER_TYPES,
    ExtensionTypeRoutes,
    OfferedVersion,
    default_release_namespace,
)
from localazure.arm.providers import refuse_unoffered_version
from localazure.arm.request import ArmError, Call, allow
from localazure.arm.server import Reply

_KC = "Microsoft.KubernetesConfiguration"


class ExtensionTypeCatalogRoutes(ExtensionTypeRoutes):
    def _extension_types_in_region(self, call: Call) -> Reply:
        """`.../locations/{region}/extensionTypes[/{type}[/versions/{version}]]` (the version list has its route)."""
        location = call.segments[5]
        base = f"/subscriptions/{call.segments[1]}/providers/{_KC}/locations/{location}"
        return self._catalog(call, base, location, None, call.segments[7:])

    def _extension_types_on_cluster(self, call: Call, location: str, cluster_type: str) -> Reply:
        """`{cluster}/providers/Microsoft.KubernetesConfiguration/extensionTypes[...]`: what the cluster can take."""
        if len(call.segments) > 12:  # .../versions[/{version}]: at the versions of the cluster's extensionTypes
            refuse_unoffered_version(call, "extensionTypes/versions", supported_versions(_KC, "extensionTypes"))
        base = "/".join(call.segments[:10])
        return self._catalog(call, f"/{base}", location, cluster_type, call.segments[11:])

    def _catalog(self, call: Call, base: str, location: str, cluster_type: str | None, rest: list[str]) -> Reply:
        allow(call, "GET")
        wanted_type = call.query.get("clustertype") or cluster_type
        train = call.query.get("releasetrain", "stable").lower()
        if not rest:
            offered = location.lower() not in self._withdrawn and any(
                v.train.lower() == train and (wanted_type is None or wanted_type in v.cluster_types)
                for v in self._offered)
            value = [self._type_body(base, "Microsoft.ArgoCD", wanted_type)] if offered else []
            return Reply(200, {"value": value, "nextLink": None})
        extension_type = rest[0]
        if extension_type.lower() != ARGOCD or location.lower() in self._withdrawn:
            raise ArmError(404, "ExtensionTypeNotFound",
                           f"Extension type '{extension_type}' is not found in location '{location}'.")
        if len(rest) == 1:
            return Reply(200, self._type_body(base, extension_type, wanted_type))
        versions = [v for v in self._offered if wanted_type is None or wanted_type in v.cluster_types]
        if len(rest) == 3:
            found = next((v for v in versions if v.version == rest[2]), None)
            if found is None:
                raise ArmError(404, "ExtensionTypeVersionNotFound",
                               f"Version '{rest[2]}' of extension type '{extension_type}' is not found.")
            return Reply(200, _version_body(base, extension_type, found))
        major = call.query.get("majorversion")
        versions = [v for v in versions if v.train.lower() == train and (major is None or
                                                                          v.version.split(".")[0] == major)]
        if call.query.get("showlatest", "").lower() == "true" and versions:
            versions = [max(versions, key=_version_key)]
        return Reply(200, {"value": [_version_body(base, extension_type, v) for v in versions], "nextLink": None})

    def _type_body(self, base: str, extension_type: str, cluster_type: str | None) -> Json:
        types = sorted({t for v in self._offered for t in v.cluster_types}, key=CLUSTER_TYPES.index)
        return {
            "id": f"{base}/extensionTypes/{extension_type}",
            "name": extension_type,
            "type": f"{_KC}/{_resource_type(base)}extensionTypes",
            "properties": {
                "isSystemExtension": False,
                "publisher": "Microsoft",
                "supportedClusterTypes": [t for t in types if cluster_type is None or t == cluster_type],
                "supportedScopes": {
                    "defaultScope": "cluster",
                    "clusterScopeSettings": {
                        "properties": {"defaultReleaseNamespace": default_release_namespace(extension_type)}},
                },
            },
        }


def _version_key(version: OfferedVersion) -> tuple[int, ...]:
    """`1.10.0-preview` after `1.9.2`: the numeric parts of the version, compared as numbers."""
    return tuple(int(part) for part in version.version.split("-")[0].split(".") if part.isdigit())


def _resource_type(base: str) -> str:
    return "locations/" if "/locations/" in base.lower() else ""


def _version_body(base: str, extension_type: str, version: OfferedVersion) -> Json:
    body = version.body("", "", extension_type)
    body["id"] = f"{base}/extensionTypes/{extension_type}/versions/{version.version}"
    body["type"] = f"{_KC}/{_resource_type(base)}extensionTypes/versions"
    return body
