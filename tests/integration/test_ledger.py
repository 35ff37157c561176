"""The ledger on Azurite: records round-trip, stale writes are refused, and the processor recovers from them."""
from __future__ import annotations

import json
import secrets
from dataclasses import replace

import pytest

from localazure.azurite import Azurite
from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.azure.ledger import ClusterRecord, LedgerConflict, RequestRecord, Waiter
from shared.azure.table_ledger import TableLedger
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.poll_schedule import WaitState
from tests.e2e.helpers import RG, aks_id, record, replies, send_request


def ledger(azurite: Azurite) -> TableLedger:
    return TableLedger(connection_string=azurite.connection_string, endpoint=None,
                       prefix="l" + secrets.token_hex(5))


def test_cluster_record_round_trips(azurite: Azurite) -> None:
    book = ledger(azurite)
    cluster = parse_cluster_id(aks_id("aks-ledger"))
    rec = ClusterRecord.new(cluster, 100.0).with_history(101.0, ["step one"]).with_waiter(
        Waiter("r-1", "replies", "m-1"))
    saved = book.save_cluster(replace(rec, phase="waiting", waiting_on="extension", continuation=3,
                                      continuation_due=160.0,
                                      wait=WaitState("install", 100.0, 101.0)))
    loaded = book.get_cluster(cluster.key)
    assert loaded == saved and loaded is not None and loaded.etag == saved.etag
    assert loaded.waiters == (Waiter("r-1", "replies", "m-1"),) and loaded.history[0]["step"] == "step one"
    assert book.get_cluster(cluster.key + "x") is None


def test_stale_and_duplicate_writes_are_refused(azurite: Azurite) -> None:
    book = ledger(azurite)
    cluster = parse_cluster_id(aks_id("aks-race"))
    first = book.save_cluster(ClusterRecord.new(cluster, 1.0))
    with pytest.raises(LedgerConflict):
        book.save_cluster(ClusterRecord.new(cluster, 2.0))  # a second create
    book.save_cluster(replace(first, phase="waiting"))
    with pytest.raises(LedgerConflict):
        book.save_cluster(replace(first, phase="succeeded"))  # written from a stale read
    request = book.save_request(RequestRecord("r-9", cluster.key, "bootstrap", "accepted", 1.0, 1.0))
    assert book.get_request("r-9") == request


class RacingLedger:
    """Lets another writer change the cluster row just before our first save, once."""

    def __init__(self, inner: TableLedger) -> None:
        self.inner, self.raced = inner, False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def save_cluster(self, rec: ClusterRecord) -> ClusterRecord:
        if not self.raced and rec.etag is not None:
            self.raced = True
            current = self.inner.get_cluster(rec.key)
            assert current is not None
            self.inner.save_cluster(replace(current, history=(*current.history, {"at": 0, "step": "other writer"})))
        return self.inner.save_cluster(rec)


def test_processor_rereads_and_reapplies_after_a_conflict(local_azure: LocalAzure) -> None:
    az = local_azure
    racing = RacingLedger(az.services.ledger)  # type: ignore[arg-type]
    from shared.services import build_services, install

    az.services = build_services(az.services.settings, outbox=az.bus, ledger=racing, clock=az.clock)  # type: ignore[arg-type]
    install(az.services)
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-contended")
    send_request(az, event["data"]["resourceUri"], message_id="m-race")
    az.drain()
    rec = record(az, event["data"]["resourceUri"])
    assert racing.raced and rec.phase == "succeeded"
    assert any(h["step"] == "other writer" for h in rec.history)  # the other write was kept, not overwritten
    assert [r["outcome"] for r in replies(az)] == ["succeeded"]


def test_a_row_of_the_learned_schedule_loads_and_no_table_of_past_waits_is_made(azurite: Azurite) -> None:
    """Rows written before issue 27 hold the wait's group, scout and parts: read as the wait's kind and clock."""
    from azure.data.tables import TableServiceClient

    prefix = "l" + secrets.token_hex(5)
    book = TableLedger(connection_string=azurite.connection_string, endpoint=None, prefix=prefix)
    cluster = parse_cluster_id(aks_id("aks-older"))
    saved = book.save_cluster(replace(ClusterRecord.new(cluster, 100.0), phase="waiting",
                                      wait=WaitState("install", 100.0, 101.0)))
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = service.get_table_client(f"{prefix}clusters")
    entity = table.get_entity(cluster.key.split("/")[2], cluster.key.replace("/", "|"))
    fields = json.loads(entity["Record"])
    fields["wait"] = {"kind": "install", "group": "eastus/default", "began": 100.0, "seen": 101.0, "witnessed": True,
                      "parts_seen": {}, "scout": True}
    entity["Record"] = json.dumps(fields)
    table.upsert_entity(entity)
    loaded = book.get_cluster(cluster.key)
    assert loaded is not None and loaded.wait == saved.wait == WaitState("install", 100.0, 101.0)
    assert f"{prefix}waits" not in {t.name for t in service.list_tables()}
