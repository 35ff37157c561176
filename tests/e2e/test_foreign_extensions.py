"""Clusters that already have Argo CD: an extension the service did not create is left alone unless adopted.

Whose an extension is comes from the ledger (the service records the extension it created or adopted) or,
without a record, from the marker setting the service writes into every extension it installs.
"""
from __future__ import annotations

import pytest

from localazure.stack import QUEUE, SUBSCRIPTION, LocalAzure
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.planning import make_plan
from tests.e2e.helpers import MARKER, RG, aks_id, arc_id, ask, record

THEIR_CLIENT_ID = "0a1b2c3d-0000-4000-8000-00000000beef"
BY_HAND = {"redis-ha.enabled": "true", "azure.workloadIdentity.enabled": "true",
           "azure.workloadIdentity.clientId": THEIR_CLIENT_ID}


def extension_writes(az: LocalAzure) -> list[str]:
    return [f"{r.method} {r.path}" for r in az.arm.requests if r.method != "GET" and "/extensions/" in r.path]


def sweep_enqueued(az: LocalAzure) -> dict[str, str]:
    assert az.host is not None
    az.host.run_timer("sweep")
    return az.services.sweeper.last_report.enqueued


@pytest.mark.parametrize("kind", ["aks", "arc"])
def test_events_requests_and_the_sweep_leave_a_hand_made_extension_alone(local_azure: LocalAzure,
                                                                       kind: str) -> None:
    az = local_azure
    if kind == "aks":
        event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "by-hand")
    else:
        event = az.arm.add_arc_cluster(SUBSCRIPTION, RG, "by-hand")
    cluster_id = aks_id("by-hand") if kind == "aks" else arc_id("by-hand")
    az.arm.add_extension(cluster_id, "argocd", settings=BY_HAND)
    az.deliver_event(event)
    az.drain()
    rec = record(az, cluster_id)
    assert (rec.phase, rec.last_error_code) == ("skipped", "ExtensionNotOwned")
    assert '"adopt": true' in (rec.last_error_message or "") and "--adopt" in (rec.last_error_message or "")

    reply = ask(az, cluster_id, "r-plain", profile="workload-identity")  # an explicit request without adopt
    assert reply["outcome"] == "skipped" and reply["error"]["code"] == "ExtensionNotOwned", reply
    assert f"argoboot run {parse_cluster_id(cluster_id).id} --adopt" in reply["error"]["message"]
    assert extension_writes(az) == [] and az.arm.identities() == []  # skipped before anything was written
    settings = az.arm.extension(cluster_id, "argocd")["properties"]["configurationSettings"]  # type: ignore[index]
    assert settings == BY_HAND
    assert sweep_enqueued(az) == {}  # a person must adopt it or remove it; the sweep does not keep asking


def test_an_adopting_request_takes_it_over_and_says_what_changed(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-adopt")
    cluster_id = aks_id("aks-adopt")
    az.arm.add_extension(cluster_id, "argocd", settings=BY_HAND)
    reply = ask(az, cluster_id, "r-adopt", profile="workload-identity", adopt=True)
    assert reply["outcome"] == "succeeded", (reply["error"], reply["steps"])
    [identity] = az.arm.identities()
    ours = identity["properties"]["clientId"]
    assert any("adopting extension argocd" in s for s in reply["steps"])
    [changed] = [s for s in reply["steps"] if s.startswith("adopted: changed")]
    assert f'azure.workloadIdentity.clientId: "{THEIR_CLIENT_ID}" -> "{ours}"' in changed
    assert 'argoboot.managedBy: (unset) -> "argoboot"' in changed
    [patch] = [r for r in az.arm.requests if r.method == "PATCH"]
    assert patch.body["properties"]["configurationSettings"]["azure.workloadIdentity.clientId"] == ours
    ext = az.arm.extension(cluster_id, "argocd")
    assert ext is not None and ext["properties"]["configurationSettings"]["argoboot.managedBy"] == "argoboot"
    assert ext["id"].lower() in {c.lower() for c in record(az, cluster_id).created}  # the ledger: ours now

    az.arm.clear_log()  # from now on it is the service's: events keep it as the profile says
    az.deliver_event(event)
    az.drain()
    assert extension_writes(az) == [] and record(az, cluster_id).phase == "succeeded"


def test_the_ledger_or_the_marker_says_the_extension_is_ours(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-marked")
    cluster_id = aks_id("aks-marked")
    # No ledger record (e.g. written by `argoboot run` without a ledger), but the service's marker: ours.
    az.arm.add_extension(cluster_id, "argocd", settings={"redis-ha.enabled": "false", **MARKER})
    az.deliver_event(event)
    az.drain()
    [patch] = [r for r in az.arm.requests if r.method == "PATCH"]
    assert patch.body["properties"]["configurationSettings"] == {"redis-ha.enabled": "true"}

    # The ledger knows it even when someone removed the marker by hand.
    az.arm.add_extension(cluster_id, "argocd", settings={"redis-ha.enabled": "false"})
    az.arm.clear_log()
    assert ask(az, cluster_id, "r-again")["outcome"] == "succeeded"  # no adopt needed
    [patch] = [r for r in az.arm.requests if r.method == "PATCH"]
    assert patch.body["properties"]["configurationSettings"] == {"redis-ha.enabled": "true", **MARKER}


def test_an_argocd_extension_under_another_name_is_foreign_and_cannot_be_adopted_in_place(
        local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-renamed")
    cluster_id = aks_id("aks-renamed")
    az.arm.add_extension(cluster_id, "gitops", settings=BY_HAND)
    reply = ask(az, cluster_id, "r-1")
    assert reply["outcome"] == "skipped" and "extension 'gitops'" in reply["error"]["message"], reply
    adopted = ask(az, cluster_id, "r-2", adopt=True)
    assert adopted["error"]["code"] == "ArgoCDExtensionUnderAnotherName", adopted
    assert "az k8s-extension delete -g rg-platform -c aks-renamed -t managedClusters -n gitops" in \
        adopted["error"]["message"]
    assert extension_writes(az) == [] and az.arm.extension(cluster_id, "argocd") is None


def test_a_foreign_legacy_extension_is_migrated_only_when_adopted(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-legacy")
    cluster_id = aks_id("aks-legacy")
    az.arm.add_extension(cluster_id, "argocd", version="0.0.9-preview",
                         settings={"deployWithHighAvailability": "false"})
    assert ask(az, cluster_id, "r-plain")["outcome"] == "skipped"
    assert extension_writes(az) == []
    reply = ask(az, cluster_id, "r-adopt", adopt=True, reinstall=True)
    assert reply["outcome"] == "succeeded", (reply["error"], reply["steps"])
    assert [w.split(" ")[0] for w in extension_writes(az)] == ["DELETE", "PUT"]


#: Microsoft's tutorial's simple install (version 1.0.0-preview), with the person's own settings beside it.
TUTORIAL = {"redis-ha.enabled": "false", "workloadIdentity.enable": "true", "azure.workloadIdentity.enabled": "true",
            "config-maps.argocd-cmd-params-cm.data.application\\.namespaces": "argocd, team-a",
            "server.service.type": "LoadBalancer", "configs.cm.timeout\\.reconciliation": "300s"}


def test_adopting_the_tutorials_install_patches_migrates_and_keeps_the_persons_settings(
        local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-tutorial")
    cluster_id = aks_id("aks-tutorial")
    az.arm.add_extension(cluster_id, "argocd", version="1.0.0-preview", settings=TUTORIAL)
    reply = ask(az, cluster_id, "r-adopt", adopt=True)
    assert reply["outcome"] == "succeeded", (reply["error"], reply["steps"])
    assert [w.split(" ")[0] for w in extension_writes(az)] == ["PATCH"]  # no DELETE, no PUT: nothing destroyed
    installed = az.arm.extension(cluster_id, "argocd")["properties"]["configurationSettings"]  # type: ignore[index]
    assert installed["server.service.type"] == "LoadBalancer"  # the person's, not the profile's: kept
    assert installed["configs.cm.timeout\\.reconciliation"] == "300s"
    assert installed["configs.params.application\\.namespaces"] == "argocd, team-a"  # migrated to the current key
    assert not [k for k in installed if k.startswith(("config-maps.", "workloadIdentity."))]
    assert installed["redis-ha.enabled"] == "true" and installed["argoboot.managedBy"] == "argoboot"  # the profile's
    [changed] = [s for s in reply["steps"] if s.startswith("adopted: changed")]
    assert 'config-maps.argocd-cmd-params-cm.data.application\\.namespaces: "argocd, team-a" -> (unset)' in changed
    assert "server.service.type" not in changed  # kept as it was
    assert 'workloadIdentity.enable: "true" -> (unset)' in changed  # the duplicate of azure.workloadIdentity.enabled
    assert "keeps 4 setting(s) the profile does not set" in reply["steps"][-1], reply["steps"]

    az.arm.clear_log()  # ours now: later runs keep what the adoption kept, and remove what is added by hand
    az.arm.add_extension(cluster_id, "argocd", version="1.0.0-preview", settings={**installed, "by.hand": "x"})
    again = ask(az, cluster_id, "r-again")
    [patch] = [r for r in az.arm.requests if r.method == "PATCH"]
    assert patch.body["properties"]["configurationSettings"] == {"by.hand": None}
    assert "server.service.type" in again["steps"][-1], again["steps"]
    assert sweep_enqueued(az) == {}  # what the adoption kept is not drift


def test_uninstall_leaves_a_foreign_extension_unless_the_request_adopts_it(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-keep")
    cluster_id = aks_id("aks-keep")
    az.arm.add_extension(cluster_id, "argocd", settings=BY_HAND)
    kept = ask(az, cluster_id, "r-uninstall", action="uninstall")
    assert kept["outcome"] == "uninstalled", kept
    assert any("was not created by the service; left alone" in s for s in kept["steps"])
    assert az.arm.extension(cluster_id, "argocd") is not None and extension_writes(az) == []
    removed = ask(az, cluster_id, "r-uninstall-adopt", action="uninstall", adopt=True)
    assert removed["outcome"] == "uninstalled", removed
    assert az.arm.extension(cluster_id, "argocd") is None
    assert record(az, cluster_id).created == ()


def test_the_sweep_installs_once_the_foreign_extension_is_gone(local_azure: LocalAzure) -> None:
    az = local_azure
    az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-freed"))
    cluster_id = aks_id("aks-freed")
    az.arm.add_extension(cluster_id, "argocd", settings=BY_HAND)  # before the service got to it
    az.drain()
    assert record(az, cluster_id).phase == "skipped"
    az.arm.remove_extension(cluster_id, "argocd")
    assert sweep_enqueued(az) == {cluster_id.lower(): "the foreign Argo CD extension is gone"}
    az.drain()
    assert record(az, cluster_id).phase == "succeeded"


@pytest.mark.parametrize(("field", "code"), [("adopt", "InvalidAdopt"), ("reinstall", "InvalidReinstall")])
def test_adopt_and_reinstall_must_be_booleans(local_azure: LocalAzure, field: str, code: str) -> None:
    az = local_azure
    reply = ask(az, aks_id("aks-any"), "r-bad", **{field: "yes"})
    assert reply["outcome"] == "rejected" and reply["error"]["code"] == code, reply
    [dead] = az.bus.dead_letters(QUEUE)
    assert dead.reason == code and "send true" in dead.description


def test_a_plan_shows_what_adopting_would_change(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-preview")
    cluster_id = aks_id("aks-preview")
    az.arm.add_extension(cluster_id, "argocd", settings=BY_HAND)
    processor = az.services.processor
    cluster, profile = parse_cluster_id(cluster_id), processor.profiles.resolve("workload-identity")
    api, directory = processor.reconciler.api, processor.reconciler.directory
    plain = make_plan(api, directory, az.services.settings, cluster, profile)
    assert plain.outcome.error_code == "ExtensionNotOwned" and plain.changes == ()
    adopting = make_plan(api, directory, az.services.settings, cluster, profile, adopt=True)
    [update] = [c for c in adopting.changes if c.action == "update-extension"]
    changes = {s.key: (s.current, s.desired) for s in update.settings}
    assert changes["azure.workloadIdentity.clientId"] == (THEIR_CLIENT_ID, "(assigned by Azure)")
    assert changes["argoboot.managedBy"] == (None, "argoboot")
    assert {r.method for r in az.arm.requests} == {"GET"}


def test_a_plan_says_reinstalling_a_legacy_extension_takes_every_application_with_it(
        local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-plan-legacy")
    cluster_id = aks_id("aks-plan-legacy")
    az.arm.add_extension(cluster_id, "argocd", version="0.0.9-preview", settings={**MARKER})
    processor = az.services.processor
    cluster, profile = parse_cluster_id(cluster_id), processor.profiles.resolve("default")
    api, directory = processor.reconciler.api, processor.reconciler.directory
    plain = make_plan(api, directory, az.services.settings, cluster, profile)
    assert plain.outcome.error_code == "LegacyExtensionNeedsReinstall" and plain.changes == ()
    assert "--reinstall" in (plain.outcome.error_message or "")
    reinstall = make_plan(api, directory, az.services.settings, cluster, profile, reinstall=True)
    [delete] = [c for c in reinstall.changes if c.action == "delete-extension"]
    assert "every Application, ApplicationSet and AppProject on the cluster" in delete.detail
    assert {r.method for r in az.arm.requests} == {"GET"}
