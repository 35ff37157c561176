"""A burst of new clusters under tight ARM limits: throttling slows the service down, it never fails a cluster.

The emulator's token buckets run on the shared virtual clock (`throttle(on_clock=True)`), like the service's
waits, so the outcome does not depend on how fast this machine is. Outcomes are asserted, never timings.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from localazure.arm.subscriptions import REGISTERED
from localazure.azurite import Azurite
from localazure.stack import OTHER_SUBSCRIPTION, QUEUE, SUBSCRIPTION, LocalAzure
from tests.e2e.helpers import RG, record

#: Writes and identity creates far below ARM's, so 30 clusters meet them: (bucket size, refill per second) per
#: subscription. Reads keep ARM's: unpaced, 30 clusters retrying into a nearly empty read bucket spend its tokens on
#: runs that fail a step later, and make no progress at all (what pacing is for).
TIGHT = {"reads": (250, 25.0), "writes": (20, 2.0), "deletes": (20, 2.0), "identity_creates": (3, 0.5)}
PACED_TO_TIGHT = {"ARM_PACE_READS": "250/25", "ARM_PACE_WRITES": "20/2", "ARM_PACE_DELETES": "20/2",
                  "ARM_PACE_IDENTITY_CREATES": "3/0.5"}
#: Reads scarce too: each cluster's first pass reads 4-5 times before its first write, so 15 clusters per
#: subscription meet this read bucket at once, and deferred passes start over from their first read.
SCARCE_READS = TIGHT | {"reads": (40, 4.0)}
PACED_TO_SCARCE_READS = PACED_TO_TIGHT | {"ARM_PACE_READS": "40/4"}
#: Pacing off stands for instances that do not know what the others spend: only ARM's 429s hold them back.
UNPACED = dict.fromkeys(PACED_TO_TIGHT, "off")
CLUSTERS = 30


@pytest.fixture
def burst_azure(azurite: Azurite, request: pytest.FixtureRequest) -> Iterator[LocalAzure]:
    paced, limits = request.param
    settings = {"DEFAULT_PROFILE": "workload-identity", **paced}
    with LocalAzure(azurite=azurite, provider_states=REGISTERED, settings=settings,
                    allowed_subscriptions=(SUBSCRIPTION, OTHER_SUBSCRIPTION)) as az:
        az.arm.extension_install_seconds = 30
        az.arm.throttle(**limits, on_clock=True)
        yield az


def _bound() -> float:
    """What the tight limits allow at best, per subscription (benchmarks/burst.py derives it): the last write or
    identity create goes when its bucket lets it, then that cluster's install takes its 30 s."""
    per_subscription = CLUSTERS // 2
    (writes, write_rate), (identities, identity_rate) = TIGHT["writes"], TIGHT["identity_creates"]
    return max((per_subscription * 4 - writes) / write_rate, (per_subscription - identities) / identity_rate) + 30


def _burst(az: LocalAzure) -> list[str]:
    events = [az.arm.add_aks_cluster((SUBSCRIPTION, OTHER_SUBSCRIPTION)[i % 2], RG, f"aks-burst-{i:02d}")
              for i in range(CLUSTERS)]
    for event in events:
        az.deliver_event(event)
    az.drain(workers=4)
    return [e["data"]["resourceUri"] for e in events]


def _assert_every_cluster_bootstrapped_once(az: LocalAzure, cluster_ids: list[str]) -> None:
    records = [record(az, cluster_id) for cluster_id in cluster_ids]
    assert [r.phase for r in records] == ["succeeded"] * CLUSTERS
    assert all(r.last_error_code is None for r in records)
    assert az.bus.dead_letters(QUEUE) == [] and az.bus.errors == []
    identities = az.arm.identities()
    assert len(identities) == CLUSTERS  # one per cluster: nothing created twice
    assert all(len(az.arm.federated_credentials(i["id"])) == 2 for i in identities)
    extensions = [az.arm.extension(cluster_id, "argocd") or {} for cluster_id in cluster_ids]
    assert [e.get("properties", {}).get("provisioningState") for e in extensions] == ["Succeeded"] * CLUSTERS


@pytest.mark.parametrize("burst_azure", [(PACED_TO_TIGHT, TIGHT), (PACED_TO_SCARCE_READS, SCARCE_READS)],
                         indirect=True, ids=["writes-scarce", "reads-scarce-too"])
def test_paced_to_arms_limits_a_burst_meets_no_429(burst_azure: LocalAzure, caplog: pytest.LogCaptureFixture) -> None:
    az = burst_azure
    started = az.clock()
    with caplog.at_level(logging.INFO, logger="argoboot.pacing"):
        cluster_ids = _burst(az)
    _assert_every_cluster_bootstrapped_once(az, cluster_ids)
    assert [r for r in az.arm.requests if r.status == 429] == []
    makespan = max(record(az, c).last_changed for c in cluster_ids) - started
    assert _bound() <= makespan <= 1.05 * _bound(), makespan  # the installs' ends noticed within seconds
    assert any("reserved a slot" in r.getMessage() for r in caplog.records)  # the limits were met: pacing held back
    # The identity-create limit was met by pacing (a pass is deferred whole, named by the buckets it waits for).
    assert any(h["step"].startswith("pacing ") and "identity-creates" in h["step"] for c in cluster_ids
               for h in record(az, c).history)


@pytest.mark.parametrize("burst_azure", [(UNPACED, TIGHT)], indirect=True)
def test_without_pacing_arms_429s_are_met_and_survived(burst_azure: LocalAzure) -> None:
    az = burst_azure
    cluster_ids = _burst(az)
    _assert_every_cluster_bootstrapped_once(az, cluster_ids)
    throttled = [r for r in az.arm.requests if r.status == 429]
    assert any(r.method == "PUT" and "/userassignedidentities/" in r.path.lower() for r in throttled)


def test_a_long_retry_after_is_waited_for_by_continuation_not_slept(local_azure: LocalAzure) -> None:
    az = local_azure
    az.reconfigure(arm_pace_max_sleep=2.0)
    az.arm.inject(method="PUT", path_regex=r"/extensions/argocd$", status=429, code="SubscriptionRequestsThrottled",
                  message="Number of 'write' requests for subscription exceeded.", retry_after=30, times=1)
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-retry-after")
    az.deliver_event(event)
    az.drain()
    puts = [r for r in az.arm.requests if r.method == "PUT"]
    assert [r.status for r in puts] == [429, 201]
    assert puts[1].started - puts[0].started == 30  # on the clock: a continuation, not azure-core sleeping
    rec = record(az, event["data"]["resourceUri"])
    assert rec.phase == "succeeded"
    assert any(h["step"] == "Azure answered 429 SubscriptionRequestsThrottled; retrying in 30s" for h in rec.history)
