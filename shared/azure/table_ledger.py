"""The status ledger in Azure Table storage (`azure-data-tables`): Azurite locally, a storage account in Azure.

Implements `shared.azure.ledger.Ledger`. Writes are ETag-conditional (a stale one raises `LedgerConflict`); a
cluster's record is keyed by subscription and its lower-cased id with '/' replaced, which Table keys forbid.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from shared.azure.hub_batches import HubBatch, QueuedChange
from shared.azure.ledger import ClusterRecord, LedgerConflict, RequestRecord, Waiter
from shared.azure.table_rollouts import TableRollouts
from shared.bootstrap.poll_schedule import WaitState

_NOT_IN_TABLE_KEYS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


def _row_key(key: str) -> str:
    # Table keys may not contain '/'; '|' cannot appear in an ARM id.
    return key.replace("/", "|")


def _entity(record: ClusterRecord) -> dict[str, Any]:
    data = asdict(record)
    data.pop("etag")
    return {"PartitionKey": record.key.split("/")[2], "RowKey": _row_key(record.key), "Phase": record.phase,
            "ClusterId": record.cluster_id, "Record": json.dumps(data)}


class TableLedger:
    """The ledger over `azure-data-tables`: Azurite locally, a storage account reached by identity in Azure. (A
    `<prefix>waits` table that earlier versions kept, of past waits, is no longer read and may be deleted.)"""

    def __init__(self, *, connection_string: str | None, endpoint: str | None, prefix: str,
                 credential: Any = None) -> None:
        from azure.data.tables import TableServiceClient

        if connection_string:
            service = TableServiceClient.from_connection_string(connection_string)
        elif endpoint:
            service = TableServiceClient(endpoint=endpoint, credential=credential)
        else:
            raise ValueError("set LEDGER_CONNECTION_STRING (local) or LEDGER_TABLE_ENDPOINT (identity-based)")
        self._clusters = service.create_table_if_not_exists(f"{prefix}clusters")
        self._requests = service.create_table_if_not_exists(f"{prefix}requests")
        self._hubs = service.create_table_if_not_exists(f"{prefix}hubs")
        self.rollouts = TableRollouts(service.create_table_if_not_exists(f"{prefix}rollouts"))

    def get_cluster(self, key: str) -> ClusterRecord | None:
        entity = self._get(self._clusters, key.split("/")[2], _row_key(key))
        return None if entity is None else self._cluster(entity)

    def list_clusters(self, phase: str | None = None) -> list[ClusterRecord]:
        """Every cluster, or those in one phase (filtered by the table service on the `Phase` column)."""
        if phase is None:
            entities = self._clusters.list_entities()
        else:
            entities = self._clusters.query_entities("Phase eq @phase", parameters={"phase": phase})
        return [self._cluster(entity) for entity in entities]

    @staticmethod
    def _cluster(entity: Any) -> ClusterRecord:
        fields = json.loads(entity["Record"])
        fields["waiters"] = tuple(Waiter(**w) for w in fields["waiters"])
        fields["history"] = tuple(fields["history"])
        fields["created"] = tuple(fields.get("created", ()))
        fields["actions_required"] = tuple(fields.get("actions_required", ()))
        wait = fields.get("wait")  # rows of earlier versions hold more of the wait than its kind and clock
        fields["wait"] = WaitState(wait["kind"], wait["began"], wait["seen"]) if wait else None
        return ClusterRecord(**fields, etag=entity.metadata["etag"])

    def save_cluster(self, record: ClusterRecord) -> ClusterRecord:
        etag = self._write(self._clusters, _entity(record), record.etag)
        return replace(record, etag=etag)

    def add_clusters(self, records: Sequence[ClusterRecord]) -> None:
        """New rows in bulk (a fleet restored, or built for `./dev bench sweep`): one transaction per 100 rows of a
        partition, Table storage's limit."""
        by_partition: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_partition.setdefault(record.key.split("/")[2], []).append(_entity(record))
        for entities in by_partition.values():
            for start in range(0, len(entities), 100):
                self._clusters.submit_transaction([("create", e) for e in entities[start:start + 100]])

    def get_request(self, request_id: str) -> RequestRecord | None:
        if not request_id or len(request_id) > 1024 or _NOT_IN_TABLE_KEYS.search(request_id):
            return None  # not a key Table storage can hold, so never recorded
        entity = self._get(self._requests, request_id, "request")
        if entity is None:
            return None
        return RequestRecord(**json.loads(entity["Record"]), etag=entity.metadata["etag"])

    def save_request(self, record: RequestRecord) -> RequestRecord:
        data = asdict(record)
        data.pop("etag")
        entity = {"PartitionKey": record.request_id, "RowKey": "request", "Status": record.status,
                  "Updated": float(record.updated), "Record": json.dumps(data)}
        return replace(record, etag=self._write(self._requests, entity, record.etag))

    def purge_requests(self, updated_before: float) -> int:
        """Delete request rows last changed before a time; returns how many. A row changed since the query
        keeps its place (the delete is ETag-conditional), and rows written without `Updated` are never matched."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError

        deleted = 0
        for entity in self._requests.query_entities("Updated lt @cutoff", parameters={"cutoff": float(updated_before)},
                                                    select=["PartitionKey", "RowKey"]):
            try:
                self._requests.delete_entity(entity["PartitionKey"], entity["RowKey"], etag=entity.metadata["etag"],
                                             match_condition=MatchConditions.IfNotModified)
            except ResourceModifiedError:
                continue
            deleted += 1
        return deleted

    def hub_batch(self, hub_key: str) -> HubBatch:
        """The head row ("batch": the claim) and one row per queued spoke ("spoke|<name>"): one partition."""
        head, pending = None, {}
        for entity in self._hubs.query_entities("PartitionKey eq @hub", parameters={"hub": _row_key(hub_key)}):
            if entity["RowKey"] == "batch":
                head = entity
            else:
                pending[entity["RowKey"][len("spoke|"):]] = QueuedChange(entity["Manifest"], entity["QueuedAt"],
                                                                         str(entity.metadata["etag"]))
        return HubBatch(hub_key, pending, head.get("ClaimedAt") if head else None,
                        head.metadata["etag"] if head else None)

    def queue_hub_change(self, hub_key: str, name: str, manifest: str, at: float) -> None:
        self._hubs.upsert_entity({"PartitionKey": _row_key(hub_key), "RowKey": f"spoke|{name}", "Manifest": manifest,
                                  "QueuedAt": float(at)})

    def drop_hub_change(self, hub_key: str, name: str) -> None:
        self._hubs.delete_entity(_row_key(hub_key), f"spoke|{name}")

    def claim_hub_batch(self, batch: HubBatch, at: float | None) -> HubBatch:
        head = {"PartitionKey": _row_key(batch.hub_key), "RowKey": "batch", "ClaimedAt": at}
        return replace(batch, claimed_at=at, etag=self._write(self._hubs, head, batch.etag))

    def release_hub_changes(self, batch: HubBatch) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        for name, change in batch.pending.items():
            try:
                self._hubs.delete_entity(_row_key(batch.hub_key), f"spoke|{name}", etag=change.etag,
                                         match_condition=MatchConditions.IfNotModified)
            except (ResourceModifiedError, ResourceNotFoundError):
                continue  # queued again since (a newer change: the next batch's), or dropped

    @staticmethod
    def _get(table: Any, partition: str, row: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return table.get_entity(partition, row)
        except ResourceNotFoundError:
            return None

    @staticmethod
    def _write(table: Any, entity: dict[str, Any], etag: str | None) -> str:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.data.tables import UpdateMode

        try:
            if etag is None:
                meta = table.create_entity(entity)
            else:
                meta = table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                           match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError) as exc:
            raise LedgerConflict(str(exc)) from exc
        return str(meta["etag"])
