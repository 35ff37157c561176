"""The queue path's waits follow the poll schedule: continuations due exactly when it says, Retry-After honoured,
and every wait checked 0.5 s after it began, then at gaps doubling up to its kind's cap, the same for every cluster
(nothing learned, nothing written but the cluster's row)."""
from __future__ import annotations

import itertools

import pytest

from localazure.arm.timing import Durations, Lognormal
from localazure.clock import VirtualClock
from localazure.stack import SUBSCRIPTION, WORK, LocalAzure
from shared.bootstrap.poll_schedule import FIRST_CHECK
from shared.pipeline.processing import DUE_PROPERTY
from tests.e2e.helpers import RG, record


def doubling(cap: float, until: float, start: float = 0.0) -> list[float]:
    """The schedule's checks of a wait `start` seconds old, up to the first at or after `until`."""
    times = [start]
    while times[-1] < until:
        times.append(times[-1] + min(cap, times[-1] + FIRST_CHECK))
    return times[1:]


def _extension_gets_after_the_put(az: LocalAzure, name: str) -> tuple[float, list[tuple[float, int]]]:
    """Every read that checks the extension: its own GET (a follow-up), or the cluster's extension list (a full
    pass, as after a throttled one: the pre-flight reads the list, to see Argo CD under any name)."""
    extensions = f"/managedClusters/{name}/providers/Microsoft.KubernetesConfiguration/extensions"
    calls = [r for r in az.arm.requests if r.path.endswith((extensions, f"{extensions}/argocd"))]
    put = next(r for r in calls if r.method == "PUT")
    return put.started, [(r.started - put.started, r.status) for r in calls if r.method == "GET" and
                         r.started > put.started]


def _first_message(az: LocalAzure) -> None:
    assert az.host is not None
    assert az.deliver_one()


def test_the_continuation_is_due_exactly_when_the_schedule_says_and_carries_that_time(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-due")
    az.deliver_event(event)
    _first_message(az)  # providers, cluster, PUT: the install is waited for
    rec = record(az, event["data"]["resourceUri"])
    [continuation] = az.bus.queue(WORK).active
    assert rec.phase == "waiting" and rec.wait is not None and rec.wait.kind == "install"
    assert rec.continuation_due == rec.wait.began + FIRST_CHECK  # the fast start
    assert continuation.message.scheduled_at == rec.continuation_due
    assert continuation.message.application_properties[DUE_PROPERTY] == round(rec.continuation_due * 1000)


def test_a_retry_after_on_a_poll_is_honoured_to_the_second(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-retry")
    az.deliver_event(event)
    _first_message(az)
    az.arm.inject(method="GET", path_regex=r"/aks-retry/providers/Microsoft.KubernetesConfiguration/extensions/argocd$",
                  status=429, code="SubscriptionRequestsThrottled", message="Number of 'read' requests exceeded.",
                  retry_after=7, times=1)
    az.drain()
    _, gets = _extension_gets_after_the_put(az, "aks-retry")
    assert gets[0] == (FIRST_CHECK, 429)
    throttled = next(i for i, r in enumerate(az.arm.requests) if r.status == 429)
    # Azure said 7 s: nothing sooner, and the next check then (not on the schedule's own clock; the run re-reads the
    # cluster first, and the pacer spaces the reads that follow, since ARM's 429 emptied its read bucket).
    assert az.arm.requests[throttled + 1].started - az.arm.requests[throttled].started == 7
    assert 7 <= gets[1][0] - FIRST_CHECK < 8 and gets[1][1] == 200
    assert record(az, event["data"]["resourceUri"]).phase == "succeeded"


def test_an_install_is_checked_on_the_doubling_schedule_and_noticed_within_its_cap(local_azure: LocalAzure) -> None:
    az = local_azure
    install, cap = az.arm.extension_install_seconds, az.services.settings.extension_poll_seconds  # 120 s, 10 s
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-doubling")
    az.deliver_event(event)
    az.drain()
    _, gets = _extension_gets_after_the_put(az, "aks-doubling")
    times = [t for t, _ in gets]
    assert times == pytest.approx(doubling(cap, install), abs=1e-3)  # 0.5, 1.5, 3.5, 7.5, 15.5, then every 10 s
    assert 0 <= times[-1] - install <= cap and len(times) <= install / cap + 6
    rec = record(az, event["data"]["resourceUri"])
    assert rec.phase == "succeeded" and rec.wait is None
    assert not hasattr(az.services.ledger, "wait_samples")  # nothing kept of past waits


def test_a_cluster_still_creating_is_checked_from_its_created_at_and_never_past_the_cap(
        local_azure: LocalAzure) -> None:
    """Two creates, one begun 100 s after the other: each on its own clock, the same schedule whatever the other
    did (no scout, no region's history)."""
    az = local_azure
    az.reconfigure(cluster_poll_seconds=30.0)
    events = []
    for name, took in (("aks-first", 200), ("aks-second", 300)):
        events.append(az.arm.add_aks_cluster(SUBSCRIPTION, RG, name, provisioning_state="Creating", ready_after=took))
        az.deliver_event(events[-1])
        az.drain(until=az.clock() + 100)
    az.drain()
    for name in ("aks-first", "aks-second"):
        put = next(r.started for r in az.arm.requests if r.method == "PUT" and f"/managedclusters/{name}/" in r.path
                   .lower())
        gets = [r.started for r in az.arm.requests if r.method == "GET" and r.path.endswith(f"/managedClusters/{name}")
                and r.started <= put]
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(gets)]
        assert gaps[:5] == [0.5, 1.0, 2.0, 4.0, 8.0] and max(gaps) == 30.0, (name, gaps)
    for event in events:
        assert record(az, event["data"]["resourceUri"]).phase == "succeeded"


QUICK, SLOW = "Microsoft.Kubernetes", "Microsoft.KubernetesConfiguration"


def test_namespaces_registering_together_are_one_wait_read_one_at_a_time(local_azure: LocalAzure) -> None:
    """Two namespaces register together: one wait, whose clock runs on when the quicker one is done, until the slower
    one is. While the first is registering, the other is not read (the run waits anyway, issue 28): from the check
    that finds the first done, it is read at each check."""
    az = local_azure
    took = {QUICK: 45.0, SLOW: 120.0}
    cap = az.services.settings.provider_poll_seconds
    az.arm.durations = Durations(0, registrations={ns: Lognormal(s, 0.0, s, s) for ns, s in took.items()}, installs={})
    for namespace in took:
        az.arm.set_provider(SUBSCRIPTION, namespace, "NotRegistered")
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-namespaces")
    az.deliver_event(event)
    az.drain()
    assert record(az, event["data"]["resourceUri"]).phase == "succeeded"
    quick_done = doubling(cap, took[QUICK])[-1]
    expected = {QUICK: doubling(cap, took[QUICK]), SLOW: [t for t in doubling(cap, took[SLOW]) if t >= quick_done]}
    for namespace in took:
        provider = f"/subscriptions/{SUBSCRIPTION}/providers/{namespace}".lower()
        [register] = [r.started for r in az.arm.requests
                      if r.method == "POST" and r.path.lower() == f"{provider}/register"]
        reads = [r.started - register for r in az.arm.requests if r.method == "GET" and r.path.lower() == provider
                 and r.started > register]
        assert reads == pytest.approx(expected[namespace], abs=1e-3), (namespace, reads)


def test_a_create_is_timed_from_arms_created_at(local_azure: LocalAzure) -> None:
    """A cluster still creating when its event arrives half a minute into the create: ARM's systemData.createdAt
    starts the wait's clock, so its checks are already at the cap."""
    az = local_azure
    assert isinstance(az.clock, VirtualClock)
    took, cap = 200.0, az.services.settings.cluster_poll_seconds
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-creating", provisioning_state="Creating", ready_after=took)
    created = az.clock()
    az.clock.advance(30.0)  # the event reaches the service half a minute into the create
    az.deliver_event(event)
    az.drain()
    assert record(az, event["data"]["resourceUri"]).phase == "succeeded"
    put = next(r.started for r in az.arm.requests if r.method == "PUT")
    gets = [r.started - created for r in az.arm.requests if r.method == "GET"
            and r.path.endswith("/managedClusters/aks-creating") and r.started <= put]
    assert gets[0] == pytest.approx(30.0, abs=1e-3)  # the event's pass
    assert gets[1:] == pytest.approx(doubling(cap, took, start=30.0), abs=1e-3)  # min(cap, 30.5) s apart from then
    assert gets[-1] >= took > gets[-2]
