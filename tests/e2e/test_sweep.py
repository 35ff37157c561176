"""End to end: the sweep (timer) finds what events missed and what changed under the service, and only that."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from localazure.arm.subscriptions import REGISTERED
from localazure.stack import OTHER_SUBSCRIPTION, SUBSCRIPTION, WORK, LocalAzure
from shared.bootstrap.workload_identity import CLUSTER_TAG, MANAGED_BY_TAG
from shared.pipeline.sweep import SweepReport
from tests.e2e.helpers import MARKER, RG, aks_id, record, send_request


def sweep(az: LocalAzure) -> SweepReport:
    """Fire the timer through the function entry point, then read what it decided from the service."""
    assert az.host is not None
    az.host.run_timer("sweep")
    return az.services.sweeper.last_report


def writes(az: LocalAzure) -> list[str]:
    """ARM writes (a Resource Graph query is a POST that reads)."""
    return [f"{r.method} {r.path}" for r in az.arm.requests if r.method != "GET" and not _query(r.path)]


def _query(path: str) -> bool:
    return path.lower() == "/providers/microsoft.resourcegraph/resources"


def converge(az: LocalAzure, name: str, **cluster: Any) -> str:
    az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, RG, name, **cluster))
    az.drain()
    assert record(az, aks_id(name)).phase == "succeeded"
    return aks_id(name)


def test_a_cluster_whose_event_was_missed_is_bootstrapped_and_a_converged_fleet_is_left_alone(
        local_azure: LocalAzure) -> None:
    az = local_azure
    converge(az, "aks-seen")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-missed")  # no event delivered
    report = sweep(az)
    assert report.enqueued == {aks_id("aks-missed").lower(): "never bootstrapped (its event was missed)"}
    az.drain()
    assert az.arm.extension(aks_id("aks-missed"), "argocd") is not None
    az.arm.clear_log()
    report = sweep(az)
    assert report.enqueued == {} and writes(az) == [] and report.source == "resource-graph"
    # The fleet in three Resource Graph queries (clusters, extensions, identities): no ARM read per cluster.
    assert az.arm.count("GET") == 0 and az.arm.count("POST", "^/providers/Microsoft.ResourceGraph/resources$") == 3


def test_removed_failed_or_drifted_extensions_are_reconciled(local_azure: LocalAzure) -> None:
    az = local_azure
    removed, drifted = converge(az, "aks-removed"), converge(az, "aks-drifted")
    az.arm.remove_extension(removed, "argocd")
    az.arm.add_extension(drifted, "argocd", settings={"redis-ha.enabled": "false"})
    report = sweep(az)
    assert report.enqueued == {removed.lower(): "extension missing",
                               drifted.lower(): "extension settings drifted from the profile"}
    az.drain()
    assert az.arm.extension(removed, "argocd")["properties"]["provisioningState"] == "Succeeded"
    settings = az.arm.extension(drifted, "argocd")["properties"]["configurationSettings"]
    assert settings == {"redis-ha.enabled": "true", **MARKER}


def test_a_changed_profile_file_is_applied(platform_azure: LocalAzure) -> None:
    az = platform_azure
    send_request(az, aks_id("aks-prof"), message_id="r-1", profile="workload-identity")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-prof")
    az.drain()
    profile = Path(az.services.settings.profiles_dir) / "workload-identity.yaml"
    profile.write_text(profile.read_text() + "helmValues:\n  server.replicas: 3\n")
    az.reconfigure()  # a deployment with the new file: the next instance loads it
    report = sweep(az)
    assert report.enqueued == {aks_id("aks-prof").lower(): "profile 'workload-identity' changed since it was applied"}
    az.arm.clear_log()
    az.drain()
    [patch] = [r for r in az.arm.requests if r.method == "PATCH"]
    assert patch.body["properties"]["configurationSettings"] == {"server.replicas": "3"}
    assert sweep(az).enqueued == {}


def test_a_wait_whose_follow_up_was_lost_is_picked_up(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-stuck", provisioning_state="Creating", ready_after=120)
    az.deliver_event(event)
    az.deliver_one()
    assert record(az, aks_id("aks-stuck")).phase == "waiting"
    az.bus.queue(WORK).active.clear()  # the scheduled follow-up is lost
    assert sweep(az).enqueued == {}  # not stuck yet
    az.clock.advance(az.services.settings.stuck_after_seconds + 1)
    assert sweep(az).enqueued == {aks_id("aks-stuck").lower(): "stuck waiting"}
    az.drain()
    assert record(az, aks_id("aks-stuck")).phase == "succeeded"


def test_opted_out_uninstalled_and_out_of_scope_clusters_are_not_touched(azurite: Any) -> None:
    with LocalAzure(azurite=azurite, provider_states=REGISTERED,
                    allowed_subscriptions=(SUBSCRIPTION, OTHER_SUBSCRIPTION),
                    settings={"ALLOWED_RESOURCE_GROUPS": f"{OTHER_SUBSCRIPTION}/rg-ok"}) as az:
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-optout", tags={"argoboot": "off"})
        az.arm.add_aks_cluster(OTHER_SUBSCRIPTION, "rg-elsewhere", "aks-outside")
        uninstalled = converge(az, "aks-uninstalled")
        send_request(az, uninstalled, message_id="r-bye", action="uninstall")
        az.drain()
        report = sweep(az)
        assert report.enqueued == {} and report.opted_out == 1 and report.out_of_scope == 1
        assert report.clusters == 3 and report.failed_subscriptions == {}


def test_resources_of_a_cluster_deleted_without_an_event_are_cleaned_up(platform_azure: LocalAzure) -> None:
    az = platform_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-vanished")
    send_request(az, aks_id("aks-vanished"), message_id="r-1", profile="platform")
    az.drain()
    az.arm.delete_cluster(aks_id("aks-vanished"))  # its delete event never arrives
    report = sweep(az)
    assert report.enqueued == {aks_id("aks-vanished").lower(): "cluster is gone"}
    az.drain()
    assert [i for i in az.arm.identities() if i["tags"].get(MANAGED_BY_TAG) == "argoboot"] == []
    assert az.arm.role_assignments() == []
    rec = record(az, aks_id("aks-vanished"))
    assert (rec.phase, rec.created) == ("deleted", ())
    assert sweep(az).enqueued == {}


def test_identities_of_gone_clusters_unknown_to_the_ledger(platform_azure: LocalAzure) -> None:
    az = platform_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-lost")
    send_request(az, aks_id("aks-lost"), message_id="r-1", profile="workload-identity")
    az.drain()
    [ours] = az.arm.identities()
    az.arm.delete_cluster(aks_id("aks-lost"))
    az.reconfigure(ledger_table_prefix="tfresh")  # the ledger is lost (a new storage account)
    untraceable = az.arm.add_identity(SUBSCRIPTION, RG, "argocd-old", tags={MANAGED_BY_TAG: "argoboot",
                                                                            CLUSTER_TAG: "0" * 64})
    report = sweep(az)
    assert report.enqueued == {aks_id("aks-lost").lower(): "cluster is gone; its identity is left"}
    assert report.orphans_reported == [untraceable]
    az.drain()
    assert [i["id"] for i in az.arm.identities()] == [untraceable]  # reported, never touched
    assert ours["id"] not in [i["id"] for i in az.arm.identities()]


def test_a_subscription_that_fails_does_not_stop_the_others(azurite: Any) -> None:
    """On ARM's lists (Resource Graph refused): Resource Graph itself leaves out the rows a caller may not read."""
    with LocalAzure(azurite=azurite, provider_states=REGISTERED,
                    allowed_subscriptions=(SUBSCRIPTION, OTHER_SUBSCRIPTION)) as az:
        az.arm.set_resource_graph(refuse=403)
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-fine")
        az.arm.inject(method="GET", path_regex=f"/subscriptions/{OTHER_SUBSCRIPTION}/providers/"
                      "Microsoft.ContainerService/managedClusters$", status=403,
                      code="AuthorizationFailed", message="no read on this subscription", times=1)
        report = sweep(az)
        assert list(report.enqueued) == [aks_id("aks-fine").lower()]
        assert "AuthorizationFailed" in report.failed_subscriptions[OTHER_SUBSCRIPTION]
