"""The sweep's look at a spoke: is its registration still on its hub, and the hub's role still on it?

A spoke has no extension of its own to compare, so the sweep checks what makes it a spoke instead: its cluster
Secret in the hub's settings (the hub's extension read once per sweep, for all its spokes) and each role assignment
the ledger says the service made for it (one GET each). Someone removing either sends the spoke back through a
reconcile, which puts it back (through the hub's next batch).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.azure.api import AzureApi
from shared.azure.ledger import ClusterRecord
from shared.bootstrap.argocd_extension import EXTENSION_NAME
from shared.bootstrap.cluster_ids import ClusterRef, parse_resource_id
from shared.bootstrap.hub import parse_registration_ref
from shared.bootstrap.hub_registration import parse_registrations
from shared.bootstrap.workload_identity import parse_role_assignment_ref


@dataclass
class HubDrift:
    api: AzureApi
    _hubs: dict[str, set[str]] = field(default_factory=dict)  # hub key -> spoke names on it, read this sweep

    def reset(self) -> None:
        self._hubs.clear()

    def why(self, spoke: ClusterRef, record: ClusterRecord) -> str | None:
        """Why the spoke needs a reconcile, or None while its registration and role assignments are in place."""
        registrations = [parsed for item in record.created if (parsed := parse_registration_ref(item)) is not None]
        if not registrations:
            return "not registered on its hub"
        for hub, name in registrations:
            if name not in self._on(hub):
                return f"its registration is missing from hub {hub.name}"
        for item in record.created:
            if (assignment := parse_role_assignment_ref(item)) is not None:
                scope, name = assignment
                if not self.api.role_assignment_exists(parse_resource_id(scope).subscription, scope, name):
                    return f"the hub's role assignment {name} on it is missing"
        return None

    def _on(self, hub: ClusterRef) -> set[str]:
        if hub.key not in self._hubs:
            ext = self.api.get_extension(hub, EXTENSION_NAME)
            self._hubs[hub.key] = set(parse_registrations(ext.settings)) if ext is not None else set()
        return self._hubs[hub.key]
