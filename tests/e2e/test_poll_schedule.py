"""The queue path's waits follow the poll schedule: continuations due exactly when it says, Retry-After honoured,
installs checked where past installs ended (the ledger's history), and each finished wait added to it."""
from __future__ import annotations

import itertools

import pytest

from localazure.arm.timing import Durations, Lognormal
from localazure.clock import VirtualClock
from localazure.stack import SUBSCRIPTION, WORK, LocalAzure
from shared.bootstrap.poll_schedule import (
    DEFAULT_READ_BUDGET,
    FIRST_CHECK,
    READ_BUDGET,
    SCOUT_GAP,
    Sample,
    pooled_spread,
    usual_window,
)
from shared.pipeline.processing import DUE_PROPERTY
from tests.e2e.helpers import RG, record

GROUP = "eastus/default"  # region/profile of the emulator's default AKS cluster under the default profile


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
    assert rec.wait.group == GROUP and rec.wait.witnessed
    assert rec.continuation_due == rec.wait.began + FIRST_CHECK  # no history yet: the fast start
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


def test_an_install_is_checked_where_past_ones_ended_and_noticed_within_a_few_seconds(local_azure: LocalAzure) -> None:
    az = local_azure
    install = az.arm.extension_install_seconds  # 120 s: the history says so too
    past = [Sample(install - 2 - i % 3, install + 1 + i % 2) for i in range(10)]
    for sample in past:
        az.services.ledger.add_wait_sample("install", GROUP, sample)
    window = usual_window(past, DEFAULT_READ_BUDGET, pooled_spread([past]))  # as the planner fits it
    assert window is not None
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-learned")
    az.deliver_event(event)
    az.drain()
    _, gets = _extension_gets_after_the_put(az, "aks-learned")
    times = [t for t, _ in gets]
    assert times[0] == pytest.approx(window.start, abs=1e-3)  # nothing before the usual window
    inside = times[:len(window.checks)]
    assert inside == pytest.approx(list(window.checks[:len(inside)]), abs=1e-3)  # then the window's checks
    noticed = times[-1]
    assert install <= noticed and (len(times) == 1 or times[-2] < install)  # the first check after Azure was done
    assert noticed - install <= 2.0
    assert len(gets) <= 12  # versus 8 polls every 15 s before, up to 15 s late
    rec = record(az, event["data"]["resourceUri"])
    assert rec.phase == "succeeded" and rec.wait is None
    learned = az.services.ledger.wait_samples("install", GROUP)
    assert learned[:-1] == past and learned[-1].after < install <= learned[-1].by  # how long this one took, added
    assert learned[-1].by == pytest.approx(noticed, abs=1e-3)


def test_clusters_still_creating_are_checked_soon_then_less_often_but_one_scouts_its_region(
        local_azure: LocalAzure) -> None:
    """Two creates in a region with no history, the second begun 100 s after the first: both start fast and back
    off; the first, the region's scout, only up to SCOUT_GAP, the other up to its cap (under half its lead) until
    the scout's end has placed its window."""
    az = local_azure
    az.reconfigure(cluster_poll_seconds=30.0)
    events = []
    for name, took in (("aks-scout", 200), ("aks-slow", 300)):
        events.append(az.arm.add_aks_cluster(SUBSCRIPTION, RG, name, provisioning_state="Creating", ready_after=took))
        az.deliver_event(events[-1])
        az.drain(until=az.clock() + 100)
    az.drain()
    scouted = None
    for name, cap in (("aks-scout", SCOUT_GAP), ("aks-slow", 30.0)):
        put = next(r.started for r in az.arm.requests if r.method == "PUT" and f"/managedclusters/{name}/" in r.path
                   .lower())
        gets = [r.started for r in az.arm.requests if r.method == "GET" and r.path.endswith(f"/managedClusters/{name}")
                and r.started <= (scouted or put)]  # until it was seen ready (or the scout was)
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(gets)]
        assert gaps[:5] == [0.5, 0.5, 1.0, 2.0, 4.0] and max(gaps) == cap, (name, gaps)
        scouted = scouted or gets[-1]
    for event in events:
        assert record(az, event["data"]["resourceUri"]).phase == "succeeded"


QUICK, SLOW = "Microsoft.Kubernetes", "Microsoft.KubernetesConfiguration"


def test_each_registering_namespace_is_read_only_when_its_own_check_is_due(local_azure: LocalAzure) -> None:
    """Two namespaces register together; each is read at its own window's checks, never at the other's, and the
    history each one learns brackets from its own last real read."""
    az = local_azure
    took = {QUICK: 45.0, SLOW: 120.0}
    az.arm.durations = Durations(0, registrations={ns: Lognormal(s, 0.0, s, s) for ns, s in took.items()}, installs={})
    pasts = {ns: [Sample(seconds - 2 - i % 3, seconds + 1 + i % 2) for i in range(10)] for ns, seconds in took.items()}
    windows = {}
    for namespace, past in pasts.items():
        az.arm.set_provider(SUBSCRIPTION, namespace, "NotRegistered")
        for sample in past:
            az.services.ledger.add_wait_sample("providers", namespace, sample)
        window = usual_window(past, READ_BUDGET["providers"], pooled_spread(pasts.values()))  # as the planner fits it
        assert window is not None
        windows[namespace] = window
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-namespaces")
    az.deliver_event(event)
    az.drain()
    assert record(az, event["data"]["resourceUri"]).phase == "succeeded"
    passes = [r.started for r in az.arm.requests if r.method == "GET" and r.path.endswith("/aks-namespaces")]
    for namespace, seconds in took.items():
        provider = f"/subscriptions/{SUBSCRIPTION}/providers/{namespace}".lower()
        [register] = [r.started for r in az.arm.requests
                      if r.method == "POST" and r.path.lower() == f"{provider}/register"]
        reads = [r.started - register for r in az.arm.requests if r.method == "GET" and r.path.lower() == provider
                 and r.started > register]
        window = windows[namespace]
        # Read at its own window's checks only (none before it opens, though passes ran for the other namespace).
        # Within 50 ms: the quick namespace's end joins the pooled spread, which moves the slow one's later checks
        # by some milliseconds (checks are a second or more apart).
        inside = reads[:len(window.checks)]  # past them, the back-off from the window's end
        assert inside == pytest.approx(list(window.checks[:len(inside)]), abs=0.05), (namespace, reads)
        assert reads[-1] >= seconds and (len(reads) == 1 or reads[-2] < seconds)
        learned = az.services.ledger.wait_samples("providers", namespace)[-1]
        assert (learned.after, learned.by) == pytest.approx((reads[-2] if len(reads) > 1 else 0.0, reads[-1]), abs=1e-3)
    # The quick namespace's checks were passes of their own before the slow one's window opened, reading it alone
    # (not the cluster either: the pass that registered ran the checks).
    early = [r.path.lower() for r in az.arm.requests if passes[0] < r.started < passes[0] + windows[SLOW].start]
    assert len(early) >= 2 and set(early) == {f"/subscriptions/{SUBSCRIPTION}/providers/{QUICK}".lower()}, early


def test_a_create_is_timed_from_arms_created_at_and_checked_where_past_creates_ended(local_azure: LocalAzure) -> None:
    """A cluster still creating when its event arrives: ARM's systemData.createdAt starts the wait's clock, so the
    region's past creates say when to look, and this one's duration joins them."""
    az = local_azure
    assert isinstance(az.clock, VirtualClock)
    took = 200.0
    past = [Sample(took - 2 - i % 3, took + 1 + i % 2) for i in range(10)]
    for sample in past:
        az.services.ledger.add_wait_sample("create", "eastus", sample)
    window = usual_window(past, READ_BUDGET["create"], pooled_spread([past]))  # as the planner fits it
    assert window is not None
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
    inside = gets[1:len(window.checks) + 1]  # then the window's checks (past them, the back-off from its end)
    assert inside == pytest.approx(list(window.checks[:len(inside)]), abs=1e-3)
    assert gets[-1] >= took > gets[-2]
    learned = az.services.ledger.wait_samples("create", "eastus")
    assert learned[:-1] == past
    assert (learned[-1].after, learned[-1].by) == pytest.approx((gets[-2], gets[-1]), abs=1e-3)
