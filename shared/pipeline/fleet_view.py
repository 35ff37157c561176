"""The sweep's view of the fleet from Azure Resource Graph: every cluster, Argo CD extension and service-owned
identity of the allowed subscriptions in three paged queries, instead of two lists per subscription plus one
extension GET per cluster.

Called by `shared.pipeline.sweep.Sweeper`. The queries are fixed templates (the local Azure's Resource Graph serves
exactly their shapes, `localazure.arm.resource_graph`); nothing from outside is put into them.

Resource Graph lags ARM by seconds to minutes, so the view is a hint. The sweep acts on it only to enqueue a
reconcile, and the reconciler reads ARM before it changes anything; a "gone" decision (an uninstall) is confirmed
with an ARM GET first. Its rows carry no `systemData` (the tables' columns are id, name, type, location, tags,
properties and the like), so the extension's last-modified time, which tells an update by someone else that changed
no public setting, is read from ARM for the clusters whose extension holds protected settings.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.azure.api import ResourceGraphApi
from shared.bootstrap.argocd_extension import EXTENSION_TYPE, ExtensionState
from shared.bootstrap.cluster_ids import CLUSTER_TYPES, InvalidClusterId, ListedCluster, parse_cluster_id
from shared.bootstrap.workload_identity import MANAGED_BY, MANAGED_BY_TAG, ManagedIdentity
from shared.log_context import get_logger

log = get_logger("argoboot.sweep")

_CLUSTER_TYPES = ", ".join(f"'{ns}/{t}'".lower() for ns, t in CLUSTER_TYPES.values())
#: The three queries the sweep sends (templates: no input from outside is interpolated).
CLUSTERS_QUERY = (f"resources | where type in~ ({_CLUSTER_TYPES}) | project id, tags, "
                  "provisioningState = properties.provisioningState, "
                  "connectivityStatus = properties.connectivityStatus")
EXTENSIONS_QUERY = ("kubernetesconfigurationresources | where type =~ 'microsoft.kubernetesconfiguration/extensions' "
                    f"| where properties.extensionType =~ '{EXTENSION_TYPE}' | project id, name, "
                    "provisioningState = properties.provisioningState, settings = properties.configurationSettings, "
                    "version = properties.currentVersion")
IDENTITIES_QUERY = ("resources | where type =~ 'microsoft.managedidentity/userassignedidentities' "
                    f"| where tags['{MANAGED_BY_TAG}'] == '{MANAGED_BY}' | project id, location, tags")
_EXTENSIONS_SEGMENT = "/providers/microsoft.kubernetesconfiguration/extensions/"


@dataclass
class FleetView:
    """What Resource Graph says of the allowed subscriptions' clusters (by subscription, lower-cased), their Argo CD
    extensions (by cluster key, under any name) and the identities tagged as the service's."""

    clusters: dict[str, list[ListedCluster]] = field(default_factory=lambda: defaultdict(list))
    connectivity: dict[str, str] = field(default_factory=dict)  # Arc clusters: cluster key -> connectivityStatus
    argocd: dict[str, list[ExtensionState]] = field(default_factory=lambda: defaultdict(list))
    identities: dict[str, list[ManagedIdentity]] = field(default_factory=lambda: defaultdict(list))

    def extension(self, key: str, name: str) -> ExtensionState | None:
        """The cluster's Argo CD extension of this name as the view shows it (no `modified_at`: see above)."""
        return next((e for e in self.argocd.get(key, ()) if e.name.lower() == name.lower()), None)

    def connected(self, key: str) -> bool:
        return self.connectivity.get(key, "").lower() == "connected"


def read_fleet(graph: ResourceGraphApi, subscriptions: Sequence[str]) -> FleetView:
    """The view, from three queries (each paged); raises `AzureError` as Resource Graph answered."""
    view = FleetView()
    wanted = {s.lower() for s in subscriptions}
    for row in graph.query(CLUSTERS_QUERY, subscriptions):
        listed = _listed(row)
        if listed is not None and listed.ref.subscription.lower() in wanted:
            view.clusters[listed.ref.subscription.lower()].append(listed)
            if row.get("connectivityStatus"):
                view.connectivity[listed.ref.key] = str(row["connectivityStatus"])
    for row in graph.query(EXTENSIONS_QUERY, subscriptions):
        resource_id = str(row.get("id") or "")
        at = resource_id.lower().find(_EXTENSIONS_SEGMENT)
        try:
            cluster = parse_cluster_id(resource_id[:at]) if at > 0 else None
        except InvalidClusterId:
            cluster = None
        if cluster is not None:
            view.argocd[cluster.key].append(ExtensionState(
                extension_type=EXTENSION_TYPE, provisioning_state=str(row.get("provisioningState") or "Unknown"),
                settings=_strings(row.get("settings")), version=_text(row.get("version")),
                name=str(row.get("name") or "")))
    for row in graph.query(IDENTITIES_QUERY, subscriptions):
        identity_id = str(row.get("id") or "")
        parts = identity_id.split("/")
        if len(parts) > 2 and parts[2].lower() in wanted:
            view.identities[parts[2].lower()].append(ManagedIdentity(
                id=identity_id, location=str(row.get("location") or ""), client_id="", principal_id="",
                tags=_strings(row.get("tags"))))
    return view


def _listed(row: Mapping[str, Any]) -> ListedCluster | None:
    try:
        return ListedCluster(ref=parse_cluster_id(str(row.get("id"))), tags=_strings(row.get("tags")))
    except InvalidClusterId as exc:
        log.warning("cluster %s is outside the ids the service accepts, left alone: %s", row.get("id"), exc)
        return None


def _strings(value: Any) -> dict[str, str]:
    """A map of strings from a row (tags, settings); anything else there is dropped."""
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
