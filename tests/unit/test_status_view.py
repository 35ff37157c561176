"""The status view copies named fields only; a new ledger field stays private until someone decides."""
from __future__ import annotations

from dataclasses import fields, replace

from shared.azure.ledger import ClusterRecord, RequestRecord, Waiter
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.pipeline.status_view import CLUSTER_INTERNAL_FIELDS, REQUEST_INTERNAL_FIELDS, cluster_view, request_view

AKS = ("/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg/providers/"
       "Microsoft.ContainerService/managedClusters/aks-1")

# Ledger field -> where the view shows it. When this test fails after a ledger change, add the field to
# `cluster_view`/`request_view` (shared/pipeline/status_view.py) and here, or to the *_INTERNAL_FIELDS there.
CLUSTER_SHOWN = {"cluster_id": "clusterResourceId", "kind": "kind", "phase": "phase", "waiting_on": "waitingOn",
                 "profile": "profile", "attempts": "attempts", "last_error_code": "lastError",
                 "last_error_message": "lastError", "last_request_id": "lastRequestId", "first_seen": "firstSeen",
                 "last_changed": "lastChanged", "history": "history", "waiting_since": "waitingSince",
                 "intent": "desired", "deleted_at": "deletedAt", "overrides": "overrides",
                 "profile_digest": "profileDigest", "config_hash": "configHash", "created": "created",
                 "actions_required": "actionsRequired", "gitops_root": "gitopsRoot"}
REQUEST_SHOWN = {"request_id": "requestId", "cluster_key": "clusterKey", "action": "action", "status": "status",
                 "created": "created", "updated": "updated", "error_code": "error", "error_message": "error",
                 "reply_error": "replyError"}


def test_every_ledger_field_is_shown_or_kept_internal_on_purpose() -> None:
    assert {f.name for f in fields(ClusterRecord)} - CLUSTER_INTERNAL_FIELDS == set(CLUSTER_SHOWN)
    assert {f.name for f in fields(RequestRecord)} - REQUEST_INTERNAL_FIELDS == set(REQUEST_SHOWN)


def test_cluster_view_whole() -> None:
    record = ClusterRecord.new(parse_cluster_id(AKS), 0.0).with_history(60.0, ["install started"]).with_waiter(
        Waiter("r-1", "private-replies", "m-1"))
    record = replace(record, phase="failed", profile="ha", attempts=2, polls=7,
                     last_error_code="ExtensionOperationFailed", last_error_message="bad", last_request_id="r-1",
                     last_changed=90.0, continuation=3, continuation_due=120.0, etag="W/x", config_hash="abc",
                     created=("/subscriptions/x/identity",), overrides={"ha": "off"})
    assert cluster_view(record) == {
        "clusterResourceId": AKS, "kind": "aks", "phase": "failed", "waitingOn": None, "waitingSince": None,
        "desired": "installed", "deletedAt": None, "profile": "ha", "overrides": {"ha": "off"},
        "profileDigest": None, "configHash": "abc", "created": ["/subscriptions/x/identity"], "actionsRequired": [],
        "gitopsRoot": None, "registeredOn": [],
        "attempts": 2, "lastError": {"code": "ExtensionOperationFailed", "message": "bad"},
        "lastRequestId": "r-1", "firstSeen": "1970-01-01T00:00:00+00:00", "lastChanged": "1970-01-01T00:01:30+00:00",
        "history": [{"at": "1970-01-01T00:01:00+00:00", "step": "install started"}],
    }
    assert set(CLUSTER_SHOWN.values()) | {"registeredOn"} == set(cluster_view(record))  # derived from `created`


def test_request_view_whole() -> None:
    rejected = RequestRecord("m 1", "", "unknown", "rejected", 0.0, 1.0, "InvalidJson", "send JSON", etag="W/y")
    assert request_view(rejected) == {
        "requestId": "m 1", "clusterKey": None, "action": None, "status": "rejected",
        "error": {"code": "InvalidJson", "message": "send JSON"}, "replyError": None,
        "created": "1970-01-01T00:00:00+00:00", "updated": "1970-01-01T00:00:01+00:00"}
    assert set(REQUEST_SHOWN.values()) == set(request_view(rejected))


def test_a_time_no_calendar_can_show_is_none_not_an_error() -> None:
    """A deletedAt of 1e15 (written by a forged message before times were bounded) broke GET /api/clusters."""
    record = replace(ClusterRecord.new(parse_cluster_id(AKS), 0.0), deleted_at=1e15, intent="absent")
    assert cluster_view(record)["deletedAt"] is None
