"""What the status API and `argoboot status` show of hub and spoke: a spoke's hubs, a hub's spokes (from the ledger).

A spoke's record names its registrations (`hub-registration:<hub id>#<name>` in `created`, written only once the
registration is on the hub or queued for it); a hub's spokes are the records naming it, found by one ledger scan,
made only for a cluster that has spokes to show (the caller decides: a hub profile, or a CLI asking for one).
"""
from __future__ import annotations

from collections.abc import Iterable

from shared.azure.ledger import ClusterRecord
from shared.bootstrap.hub import parse_registration_ref


def registered_on(record: ClusterRecord) -> list[dict[str, str]]:
    """The hubs this cluster is registered on, with its name there."""
    found = (parse_registration_ref(item) for item in record.created)
    return [{"hub": hub.id, "name": name} for hub, name in (f for f in found if f is not None)]


def spokes_of(hub_key: str, records: Iterable[ClusterRecord]) -> list[dict[str, str]]:
    """Every cluster the ledger says is registered on this hub, with its phase (sorted by id)."""
    spokes = []
    for record in records:
        for entry in registered_on(record):
            if entry["hub"].lower() == hub_key:
                spokes.append({"clusterResourceId": record.cluster_id, "name": entry["name"], "phase": record.phase})
    return sorted(spokes, key=lambda s: s["clusterResourceId"].lower())
