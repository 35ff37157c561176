"""End to end: the sweep reads the fleet from Resource Graph (paged, within its quota), falls back to ARM's lists
when Resource Graph refuses, and treats its lagging view as a hint: the reconciler acts on what ARM says."""
from __future__ import annotations

import logging

import pytest
from azure.identity import DefaultAzureCredential

from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.azure.resource_graph import ResourceGraphGateway
from shared.pipeline.outcome_record import SWEEP
from shared.pipeline.sweep import SweepReport
from tests.e2e.helpers import MARKER, RG, aks_id, record

GRAPH = "^/providers/Microsoft.ResourceGraph/resources$"
LAG = 600.0  # seconds the view is behind ARM in the lag tests


def sweep(az: LocalAzure) -> SweepReport:
    assert az.host is not None
    az.host.run_timer("sweep")
    return az.services.sweeper.last_report


def converge(az: LocalAzure, name: str) -> str:
    az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, RG, name))
    az.drain()
    assert record(az, aks_id(name)).phase == "succeeded"
    return aks_id(name)


def arm_calls(az: LocalAzure) -> list[str]:
    return [f"{r.method} {r.path}" for r in az.arm.requests if not r.path.lower().startswith("/providers/")]


def test_only_the_clusters_that_differ_are_enqueued_without_a_read_per_cluster(local_azure: LocalAzure) -> None:
    az = local_azure
    fine = [converge(az, f"aks-fine-{i}") for i in range(3)]
    drifted = converge(az, "aks-drift")
    az.arm.add_extension(drifted, "argocd", settings={"redis-ha.enabled": "false"})
    az.arm.clear_log()
    report = sweep(az)
    assert report.enqueued == {drifted.lower(): "extension settings drifted from the profile"}
    assert report.clusters == 4 and report.source == "resource-graph" and report.fallback is None
    assert arm_calls(az) == [] and az.arm.count("POST", GRAPH) == 3  # clusters, extensions, identities
    az.drain()
    assert az.arm.extension(drifted, "argocd")["properties"]["configurationSettings"] == \
        {"redis-ha.enabled": "true", **MARKER}
    assert all(record(az, c).phase == "succeeded" for c in fine)


def test_the_view_is_read_page_by_page(local_azure: LocalAzure) -> None:
    az = local_azure
    missed = [aks_id(f"aks-missed-{i}") for i in range(5)]
    for i in range(5):
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, f"aks-missed-{i}")  # no event delivered
    az.services.sweeper.graph = ResourceGraphGateway(DefaultAzureCredential(), endpoint=az.arm.url,
                                                     ca_bundle=az.arm.ca_path, page_size=2)
    report = sweep(az)
    assert sorted(report.enqueued) == sorted(c.lower() for c in missed)
    pages = [r.body for r in az.arm.requests if r.path.lower() == GRAPH.strip("^$").lower()]
    clusters = [p for p in pages if p["query"].startswith("resources | where type in~")]
    assert [p["options"].get("$skipToken") is not None for p in clusters] == [False, True, True]
    assert all(p["options"]["$top"] == 2 and p["options"]["resultFormat"] == "objectArray" for p in pages)


@pytest.mark.parametrize("status, code", [(403, "AuthorizationFailed"), (404, "InvalidResourceNamespace")])
def test_a_refused_view_falls_back_to_arms_lists_and_says_so(local_azure: LocalAzure, status: int, code: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    az = local_azure
    converge(az, "aks-fb")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-fb-missed")
    az.arm.set_resource_graph(refuse=status)  # no rights, or a cloud that does not serve Resource Graph
    az.arm.clear_log()
    with caplog.at_level(logging.INFO):
        report = sweep(az)
    assert report.enqueued == {aks_id("aks-fb-missed").lower(): "never bootstrapped (its event was missed)"}
    assert report.source == "arm" and f"{status} {code}" in (report.fallback or "")
    assert az.arm.count("GET", "/providers/Microsoft.ContainerService/managedClusters$") == 1  # ARM's list
    assert az.arm.count("GET", r"/extensions/argocd$") == 1  # and a read per converged cluster, as before
    [logged] = [r for r in caplog.records if getattr(r, "record_type", None) == SWEEP]
    assert (logged.source, logged.outcome) == ("arm", "succeeded")  # type: ignore[attr-defined]
    assert f"{status} {code}" in logged.fallback  # type: ignore[attr-defined]


def test_a_spent_quota_defers_the_sweep_instead_of_meeting_429s(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-q")
    az.arm.set_resource_graph(quota=(3, 60.0))  # three queries a minute: one sweep's worth
    assert sweep(az).deferred is None
    az.arm.clear_log()
    report = sweep(az)  # the quota says 0 left, resetting in a minute: nothing is sent, no ARM listing either
    assert report.deferred is not None and "ResourceGraphQuotaPaced" in report.deferred
    assert report.enqueued == {} and az.arm.requests == []
    assert [r for r in az.arm.requests if r.status == 429] == []


def test_arm_wins_where_the_lagging_view_says_otherwise(local_azure: LocalAzure) -> None:
    """The view says drifted, ARM says converged (someone fixed it): the reconcile reads ARM and writes nothing."""
    az = local_azure
    cluster = converge(az, "aks-lag")
    installed = az.arm.extension(cluster, "argocd")["properties"]["configurationSettings"]
    az.arm.add_extension(cluster, "argocd", settings={"redis-ha.enabled": "false"})
    az.arm.set_resource_graph(lag=LAG)  # indexed now: drifted
    az.arm.add_extension(cluster, "argocd", settings=installed)  # ARM: converged again
    assert sweep(az).enqueued == {cluster.lower(): "extension settings drifted from the profile"}
    az.arm.clear_log()
    az.drain()
    assert [r.method for r in az.arm.requests if r.method not in ("GET", "POST")] == []
    assert record(az, cluster).phase == "succeeded"


def test_what_the_view_has_not_indexed_yet_is_caught_later_and_never_uninstalled(local_azure: LocalAzure) -> None:
    """A cluster created after the view was indexed: not seen by this sweep (its event, or the sweep after the view
    caught up, brings it); one bootstrapped since is not taken for gone (ARM confirms it exists)."""
    az = local_azure
    az.arm.set_resource_graph(lag=LAG)
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-unindexed")  # its event is lost
    bootstrapped = converge(az, "aks-new")  # its event came: the ledger knows it, the view does not yet
    report = sweep(az)
    assert report.enqueued == {}  # neither "never bootstrapped" (not seen) nor "cluster is gone" (ARM has it)
    assert az.arm.count("GET", f"{bootstrapped}$") >= 1
    az.clock.advance(LAG)
    assert sweep(az).enqueued == {aks_id("aks-unindexed").lower(): "never bootstrapped (its event was missed)"}
    az.drain()
    assert az.arm.extension(bootstrapped, "argocd") is not None
