"""Events duplicated, reordered, and a delete before a late write, while a bootstrap is under way.

Event Grid delivers at least once and in no particular order; the cluster may be deleted in the middle of a
bootstrap. Whatever the order (several seeded shuffles, with the queue worked between deliveries and then by
four workers), the end is the same: what the service created is gone, the ledger says deleted, the requester got
one answer, nothing was created twice. (The basic delete / late-write case is in test_lifecycle.py.)
"""
from __future__ import annotations

import random

import pytest

from localazure.arm.common import iso
from localazure.stack import QUEUE, SUBSCRIPTION, WORK, LocalAzure
from tests.e2e.azure_state import (
    assert_clean_bus,
    assert_nothing_created_twice,
    assert_removed,
    assert_replied_once,
    assert_requests_terminal,
    issuer_of,
)
from tests.e2e.helpers import RG, aks_id, record, send_request


@pytest.mark.parametrize("seed", range(6))
def test_shuffled_duplicated_events_around_a_delete_end_with_nothing_left(platform_azure: LocalAzure,
                                                                          seed: int) -> None:
    az = platform_azure
    az.arm.principal_replication_seconds = 0
    rng = random.Random(seed)
    created = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-events")
    cluster_id = aks_id("aks-events")
    issuer = issuer_of(az, cluster_id)

    def work(most: int) -> None:
        for _ in range(rng.randint(0, most)):
            az.deliver_one()

    az.deliver_event(created)
    az.clock.advance(1)
    send_request(az, cluster_id, message_id="m-boot", requestId="r-boot", profile="platform")
    az.bus.run_until_idle(QUEUE, az.functions()[QUEUE])  # forwarded onto the cluster's session, before the events
    work(4)  # somewhere in the bootstrap: identity, credentials, install started, or not yet
    az.clock.advance(rng.choice([1, 20, 200]))
    update = {**created, "id": "evt-scale", "eventTime": iso(az.clock())}  # a node pool scale, say
    az.clock.advance(1)
    deleted, deleted_at = az.arm.delete_cluster(cluster_id), az.clock()
    late = {**created, "id": "evt-late", "eventTime": iso(az.clock() - 0.5)}  # written before the delete
    events = [created, update, update, deleted, deleted, late, late]
    rng.shuffle(events)
    for event in events:
        az.deliver_event(event)
        work(2)
    az.drain(workers=4)

    assert_removed(az, cluster_id, phase="deleted", issuer=issuer)
    assert az.arm.identities() == [] and az.arm.cluster(cluster_id) is None
    rec = record(az, cluster_id)
    assert rec.deleted_at is not None and abs(rec.deleted_at - deleted_at) < 1e-3  # the delete event's time
    assert_nothing_created_twice(az)
    assert_replied_once(az, {"r-boot": {"succeeded", "failed", "deleted"}})
    assert_requests_terminal(az, ["r-boot"])
    assert_clean_bus(az)
    assert az.bus.queue(WORK).duplicates_dropped >= 3  # the same event twice is one message

    # Still later, the late write arrives once more (Event Grid's retry): the cluster stays gone and untouched.
    before = len(az.arm.requests)
    az.deliver_event({**late, "id": "evt-late-retry"})
    az.drain()
    assert az.arm.requests[before:] == [] and record(az, cluster_id).phase == "deleted"
