"""The KubernetesConfiguration extension-types API: which versions of an extension type a region offers.

`GET /subscriptions/{s}/providers/Microsoft.KubernetesConfiguration/locations/{region}/extensionTypes/{type}/
versions?releaseTrain=...` answers an ExtensionTypeVersionsList (spec 2026-04-01): per version the cluster types
that take it and, per cluster type and distribution, the Kubernetes versions it does not support. By default
every region offers `Microsoft.ArgoCD` on `preview` in the version installs report; tests withdraw a region, add
versions, or mark Kubernetes versions unsupported. An unknown type (or one withdrawn from a region) is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from localazure.arm.common import Json
from localazure.arm.request import ArmError, Call, allow
from localazure.arm.server import Reply
from localazure.arm.state import ArmState

ARGOCD = "microsoft.argocd"
#: The train an install or a versions list without `releaseTrain` gets. Microsoft.ArgoCD: its preview versions, as
#: the 2026 quickstart (no --release-train, installs 1.0.0-preview) and the AKS blog (release train "Preview") show;
#: other types: Stable, the SDK models' default.
DEFAULT_TRAINS = {ARGOCD: "preview"}


def default_train(extension_type: str) -> str:
    return DEFAULT_TRAINS.get(extension_type.lower(), "Stable")
#: The version a fresh `Microsoft.ArgoCD` install reports once it has succeeded, and the one regions offer.
LATEST_ARGOCD_VERSION = "1.0.0-preview"
CLUSTER_TYPES = ("managedCluster", "connectedCluster")
#: Extension types' default release namespaces (their `clusterScopeSettings.defaultReleaseNamespace`), lower-cased
#: type -> namespace: Microsoft.ArgoCD's service accounts are `system:serviceaccount:argocd:*`.
DEFAULT_RELEASE_NAMESPACES = {ARGOCD: "argocd"}


def default_release_namespace(extension_type: str) -> str | None:
    return DEFAULT_RELEASE_NAMESPACES.get(extension_type.lower())


@dataclass
class OfferedVersion:
    version: str
    train: str = "preview"
    cluster_types: tuple[str, ...] = CLUSTER_TYPES
    unsupported: dict[str, list[Json]] = field(default_factory=dict)  # cluster type -> [{distributions, versions}]

    def body(self, subscription: str, location: str, extension_type: str) -> Json:
        return {
            "id": f"/subscriptions/{subscription}/providers/Microsoft.KubernetesConfiguration/locations/{location}/"
            f"extensionTypes/{extension_type}/versions/{self.version}",
            "name": self.version,
            "type": "Microsoft.KubernetesConfiguration/locations/extensionTypes/versions",
            "properties": {
                "version": self.version,
                "supportedClusterTypes": list(self.cluster_types),
                "unsupportedKubernetesVersions": {k: list(v) for k, v in self.unsupported.items()},
            },
        }


class ExtensionTypeRoutes(ArmState):
    def __init__(self) -> None:
        super().__init__()
        self._offered: list[OfferedVersion] = [OfferedVersion(LATEST_ARGOCD_VERSION)]  # Microsoft.ArgoCD everywhere
        self._withdrawn: set[str] = set()  # regions that do not offer Microsoft.ArgoCD at all

    def offers(self, location: str, version: str, train: str) -> bool:
        return location.lower() not in self._withdrawn and any(
            v.version == version and v.train.lower() == train.lower() for v in self._offered
        )

    def _extension_type_versions(self, call: Call) -> Reply:
        allow(call, "GET")
        location, extension_type = call.segments[5], call.segments[7]
        if extension_type.lower() != ARGOCD or location.lower() in self._withdrawn:
            raise ArmError(
                404,
                "ExtensionTypeNotFound",
                f"Extension type '{extension_type}' is not found in location '{location}'.",
            )
        train = call.query.get("releasetrain", default_train(extension_type)).lower()
        versions = [v for v in self._offered if v.train.lower() == train]
        subscription = call.segments[1]
        return Reply(
            200, {"value": [v.body(subscription, location, extension_type) for v in versions], "nextLink": None}
        )
