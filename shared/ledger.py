"""The status ledger: what happened to each cluster and each request, in Azure Table storage.

Written by the queue and Event Grid handlers after every run; read by the same handlers (to
coalesce waits and find who is waiting for a reply), by the status API and by the request purge.
Writes are ETag-conditional so two instances never overwrite each other's record silently: a stale
write raises `LedgerConflict` and the caller re-reads and re-applies its change.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from shared.clusters import ClusterRef

HISTORY_LIMIT = 20
WAITERS_LIMIT = 50


class LedgerConflict(Exception):
    """Someone else changed the record since it was read."""


@dataclass(frozen=True)
class Waiter:
    """A request whose sender wants a reply when the cluster's outcome is known."""

    request_id: str
    reply_to: str | None
    correlation_id: str | None
    action: str = "bootstrap"


@dataclass(frozen=True)
class ClusterRecord:
    """One cluster's row. `continuation` numbers the scheduled follow-up that is live, if any."""

    key: str
    cluster_id: str
    kind: str
    phase: str = "pending"
    waiting_on: str | None = None
    waiting_since: float | None = None
    intent: str = "installed"  # or "absent": uninstalled on request, or the cluster was deleted
    deleted_at: float | None = None  # event time of the cluster's deletion: older write events are ignored
    profile: str | None = None
    profile_digest: str | None = None  # of the profile (with overrides) last applied successfully
    overrides: dict[str, Any] | None = None
    config_hash: str | None = None
    created: tuple[str, ...] = ()
    actions_required: tuple[str, ...] = ()
    attempts: int = 0
    polls: int = 0
    last_error_code: str | None = None
    last_error_message: str | None = None
    last_request_id: str | None = None
    first_seen: float = 0.0
    last_changed: float = 0.0
    continuation: int = 0
    continuation_due: float | None = None
    waiters: tuple[Waiter, ...] = ()
    history: tuple[dict[str, Any], ...] = ()
    etag: str | None = field(default=None, compare=False)

    @classmethod
    def new(cls, cluster: ClusterRef, now: float) -> ClusterRecord:
        return cls(key=cluster.key, cluster_id=cluster.id, kind=cluster.kind, first_seen=now, last_changed=now)

    def with_history(self, now: float, entries: list[str]) -> ClusterRecord:
        added = tuple({"at": now, "step": text} for text in entries)
        return replace(self, history=(self.history + added)[-HISTORY_LIMIT:])

    def with_waiter(self, waiter: Waiter) -> ClusterRecord:
        if any(w.request_id == waiter.request_id for w in self.waiters):
            return self
        return replace(self, waiters=(*self.waiters, waiter)[-WAITERS_LIMIT:])


@dataclass(frozen=True)
class RequestRecord:
    """One request's row: who asked for what, and what became of it."""

    request_id: str
    cluster_key: str
    action: str
    status: str
    created: float
    updated: float
    error_code: str | None = None
    error_message: str | None = None
    etag: str | None = field(default=None, compare=False)


class Ledger(Protocol):
    def get_cluster(self, key: str) -> ClusterRecord | None: ...
    def save_cluster(self, record: ClusterRecord) -> ClusterRecord: ...
    def get_request(self, request_id: str) -> RequestRecord | None: ...
    def save_request(self, record: RequestRecord) -> RequestRecord: ...
    def list_clusters(self, phase: str | None = None) -> list[ClusterRecord]: ...
    def purge_requests(self, updated_before: float) -> int: ...


_NOT_IN_TABLE_KEYS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


def _row_key(key: str) -> str:
    # Table keys may not contain '/'; '|' cannot appear in an ARM id.
    return key.replace("/", "|")


class TableLedger:
    """The ledger over `azure-data-tables`: Azurite locally, a storage account reached by identity in Azure."""

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
        return ClusterRecord(**fields, etag=entity.metadata["etag"])

    def save_cluster(self, record: ClusterRecord) -> ClusterRecord:
        data = asdict(record)
        data.pop("etag")
        entity = {"PartitionKey": record.key.split("/")[2], "RowKey": _row_key(record.key),
                  "Phase": record.phase, "ClusterId": record.cluster_id, "Record": json.dumps(data)}
        etag = self._write(self._clusters, entity, record.etag)
        return replace(record, etag=etag)

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
