"""Pre-flight end to end: each check refuses (or waits) early, with the fix, before the service writes anything.

Arc connectivity, the extension-types API (region, Kubernetes version, pinned version), the nodes Argo CD can
run on, AKS Automatic, the identity's resource group, and an open-source Argo CD already in the namespace.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from localazure.azurite import Azurite
from localazure.clock import VirtualClock
from localazure.stack import OTHER_SUBSCRIPTION, QUEUE, SUBSCRIPTION, WORK, LocalAzure
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.planning import make_plan
from shared.pipeline.sweep import SweepReport
from tests.conftest import ROOT
from tests.e2e.helpers import MARKER, RG, aks_id, arc_id, ask, record, replies, send_request

PROFILES = {
    "arc-patient": "arc:\n  whenDisconnected: wait\n",
    "pinned": "version: 1.0.0-preview\n",
    "pinned-newer": "version: 1.1.0-preview\n",
    "pinned-missing": "version: 9.9.9\n",
    "train-preview": "releaseTrain: Preview\n",
    "train-stable": "releaseTrain: Stable\n",
}


@pytest.fixture
def az(azurite: Azurite, tmp_path: Path) -> Iterator[LocalAzure]:
    """The local Azure with the repository's profiles plus the pre-flight ones above."""
    for profile in (ROOT / "profiles").glob("*.yaml"):
        shutil.copy(profile, tmp_path)
    for name, text in PROFILES.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    with LocalAzure(azurite=azurite, settings={"PROFILES_DIR": str(tmp_path)}, provider_states={}) as local:
        yield local


def writes(az: LocalAzure) -> list[str]:
    return [f"{r.method} {r.path}" for r in az.arm.requests if r.method != "GET"]


def run_for(az: LocalAzure, seconds: float) -> None:
    """Deliver what comes due in the next `seconds` of Azure time, then stop (a wait is still going on)."""
    assert az.host is not None and isinstance(az.clock, VirtualClock)
    end = az.clock() + seconds
    while True:
        if az.deliver_one():
            continue
        pending = [m.scheduled_at or az.clock() for q in (QUEUE, WORK) for m in az.bus.messages(q)]
        if not pending or min(pending) > end:
            az.clock.advance_to(end)
            return
        az.clock.advance_to(max(min(pending), az.clock()))


def sweep(az: LocalAzure) -> SweepReport:
    assert az.host is not None
    az.host.run_timer("sweep")
    return az.services.sweeper.last_report


# ---------------------------------------------------------------------------------------------- Arc connectivity

@pytest.mark.parametrize(("status", "fix"), [
    ("Offline", "kubectl get pods -n azure-arc"),
    ("Expired", "az connectedk8s delete -g rg-platform -n arc-away` and `az connectedk8s connect -g rg-platform"),
    ("AgentNotInstalled", "az connectedk8s connect -g rg-platform -n arc-away"),
])
def test_a_disconnected_arc_cluster_fails_with_the_agents_fix_and_nothing_written(
        az: LocalAzure, status: str, fix: str) -> None:
    az.arm.set_provider(SUBSCRIPTION, "Microsoft.KubernetesConfiguration", "NotRegistered")
    az.arm.add_arc_cluster(SUBSCRIPTION, RG, "arc-away", connectivity=status)
    reply = ask(az, arc_id("arc-away"), "r-away")
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "ArcClusterDisconnected", reply
    assert f"agents are {status}" in reply["error"]["message"] and fix in reply["error"]["message"]
    assert "arc.whenDisconnected: wait" in reply["error"]["message"]
    assert writes(az) == []  # not even the provider registration


def test_connecting_agents_are_waited_for_then_the_install_goes_on(az: LocalAzure) -> None:
    az.arm.add_arc_cluster(SUBSCRIPTION, RG, "arc-soon", connectivity="Connecting")
    send_request(az, arc_id("arc-soon"), message_id="r-soon")
    run_for(az, 600)
    rec = record(az, arc_id("arc-soon"))
    assert (rec.phase, rec.waiting_on) == ("waiting", "connectivity") and writes(az) == []
    assert "agents are Connecting" in rec.history[-1]["step"]
    az.arm.set_connectivity(arc_id("arc-soon"), "Connected")
    az.drain()
    assert record(az, arc_id("arc-soon")).phase == "succeeded"
    assert replies(az)[-1]["outcome"] == "succeeded"


def test_a_profile_may_wait_for_offline_agents_and_an_install_stalls_while_they_are_away(az: LocalAzure) -> None:
    az.arm.add_arc_cluster(SUBSCRIPTION, RG, "arc-flaky", connectivity="Offline")
    send_request(az, arc_id("arc-flaky"), message_id="r-flaky", profile="arc-patient")
    run_for(az, 900)
    rec = record(az, arc_id("arc-flaky"))
    assert (rec.phase, rec.waiting_on) == ("waiting", "connectivity")
    assert "arc.whenDisconnected: wait" in rec.history[-1]["step"]
    az.arm.set_connectivity(arc_id("arc-flaky"), "Connected")
    run_for(az, 90)  # the next check finds them back: the install starts ...
    assert az.arm.extension(arc_id("arc-flaky"), "argocd")["properties"]["provisioningState"] == "Creating"
    az.arm.set_connectivity(arc_id("arc-flaky"), "Offline")  # ... and the agents drop away again
    run_for(az, 1800)
    assert az.arm.extension(arc_id("arc-flaky"), "argocd")["properties"]["provisioningState"] == "Creating"
    az.arm.set_connectivity(arc_id("arc-flaky"), "Connected")
    az.drain()
    assert record(az, arc_id("arc-flaky")).phase == "succeeded"


def test_the_sweep_retries_a_disconnected_arc_cluster_only_once_it_is_connected(az: LocalAzure) -> None:
    az.deliver_event(az.arm.add_arc_cluster(SUBSCRIPTION, RG, "arc-back", connectivity="Offline"))
    az.drain()
    assert record(az, arc_id("arc-back")).last_error_code == "ArcClusterDisconnected"
    assert sweep(az).enqueued == {}
    az.arm.set_connectivity(arc_id("arc-back"), "Connected")
    assert sweep(az).enqueued == {arc_id("arc-back").lower(): "Arc cluster connected again"}
    az.drain()
    assert record(az, arc_id("arc-back")).phase == "succeeded"


# ------------------------------------------------------------------------------- extension types and versions

@pytest.mark.parametrize("kind", ["aks", "arc"])
def test_a_region_that_does_not_offer_the_extension_is_a_permanent_failure_naming_it(az: LocalAzure,
                                                                                     kind: str) -> None:
    az.arm.withdraw_argocd("brazilsouth")
    if kind == "aks":
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, "far", location="brazilsouth")
    else:
        az.arm.add_arc_cluster(SUBSCRIPTION, RG, "far", location="brazilsouth")
    cluster_id = aks_id("far") if kind == "aks" else arc_id("far")
    reply = ask(az, cluster_id, "r-far", profile="workload-identity")
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "ExtensionNotOffered", reply
    assert "in region brazilsouth" in reply["error"]["message"]
    assert "az k8s-extension extension-types list-versions-by-location --location brazilsouth" in \
        reply["error"]["message"]
    assert writes(az) == [] and az.arm.identities() == []  # refused before the identity was made
    assert record(az, cluster_id).attempts == 0


def test_a_kubernetes_version_no_offered_version_supports_names_both(az: LocalAzure) -> None:
    az.arm.offer_argocd("1.0.0-preview", unsupported={"managedCluster": [(["AKS"], ["<1.34"])]})
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-old-k8s", kubernetes_version="1.31.2")
    reply = ask(az, aks_id("aks-old-k8s"), "r-old-k8s")
    assert reply["error"]["code"] == "ExtensionNotOfferedForVersion", reply
    message = reply["error"]["message"]
    assert "Kubernetes 1.31.2" in message and "region eastus" in message and "az aks upgrade -g rg-platform" in message
    assert writes(az) == []
    az.arm.add_arc_cluster(SUBSCRIPTION, RG, "arc-same-k8s", kubernetes_version="1.31.2")  # the rule is AKS's only
    assert ask(az, arc_id("arc-same-k8s"), "r-arc-k8s")["outcome"] == "succeeded"


def test_the_region_answer_is_read_once_and_cached(az: LocalAzure) -> None:
    for name in ("aks-a", "aks-b", "aks-c"):
        az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, RG, name))
    az.drain()
    assert az.arm.count("GET", r"/locations/eastus/extensionTypes/Microsoft\.ArgoCD/versions$") == 1
    [read] = [r for r in az.arm.requests if "/extensionTypes/" in r.path]
    assert "releaseTrain" not in read.query  # Azure's default train, as Microsoft's 2026 documents install
    puts = [r for r in az.arm.requests if r.method == "PUT" and r.path.endswith("/extensions/argocd")]
    assert len(puts) == 3 and not [p for p in puts if "releaseTrain" in p.body["properties"]]


def test_a_profile_may_pin_a_release_train(az: LocalAzure) -> None:
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-train")
    assert ask(az, aks_id("aks-train"), "r-train", profile="train-preview")["outcome"] == "succeeded"
    [read] = [r for r in az.arm.requests if "/extensionTypes/" in r.path]
    [put] = [r for r in az.arm.requests if r.method == "PUT" and r.path.endswith("/extensions/argocd")]
    assert read.query["releaseTrain"] == "Preview" and put.body["properties"]["releaseTrain"] == "Preview"
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-stable")
    reply = ask(az, aks_id("aks-stable"), "r-stable", profile="train-stable")  # the emulator offers it on preview
    assert reply["error"]["code"] == "ExtensionNotOffered", reply
    assert "on release train Stable" in reply["error"]["message"] and "--release-train Stable" in \
        reply["error"]["message"]


def test_a_pinned_version_is_installed_pinned_and_a_new_pin_is_patched_and_planned(az: LocalAzure) -> None:
    az.arm.offer_argocd("1.1.0-preview")  # offered from the start: the region's answer is cached for an hour
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-pin")
    assert ask(az, aks_id("aks-pin"), "r-pin", profile="pinned")["outcome"] == "succeeded"
    [put] = [r for r in az.arm.requests if r.method == "PUT" and r.path.endswith("/extensions/argocd")]
    assert (put.body["properties"]["version"], put.body["properties"]["autoUpgradeMinorVersion"]) == \
        ("1.0.0-preview", False)

    processor = az.services.processor
    plan = make_plan(processor.reconciler.api, processor.reconciler.directory, az.services.settings,
                     parse_cluster_id(aks_id("aks-pin")), processor.profiles.resolve("pinned-newer"))
    [change] = plan.changes
    assert change.action == "update-extension" and "version 1.0.0-preview -> 1.1.0-preview" in change.detail

    az.arm.clear_log()
    reply = ask(az, aks_id("aks-pin"), "r-repin", profile="pinned-newer")
    assert reply["outcome"] == "succeeded", (reply["error"], reply["steps"])
    [patch] = [r for r in az.arm.requests if r.method == "PATCH"]
    assert (patch.body["properties"]["version"], patch.body["properties"]["autoUpgradeMinorVersion"]) == \
        ("1.1.0-preview", False)
    assert any("version: 1.0.0-preview -> 1.1.0-preview" in s for s in reply["steps"])
    ext = az.arm.extension(aks_id("aks-pin"), "argocd")["properties"]
    assert ext["currentVersion"] == "1.1.0-preview"

    az.arm.clear_log()  # back on the train: autoUpgradeMinorVersion true again
    assert ask(az, aks_id("aks-pin"), "r-train", profile="default")["outcome"] == "succeeded"
    [patch] = [r for r in az.arm.requests if r.method == "PATCH"]
    assert patch.body["properties"]["autoUpgradeMinorVersion"] is True
    assert az.arm.extension(aks_id("aks-pin"), "argocd")["properties"]["version"] is None


def test_a_pinned_version_the_cluster_cannot_take_is_refused_at_pre_flight(az: LocalAzure) -> None:
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-nopin")
    reply = ask(az, aks_id("aks-nopin"), "r-nopin", profile="pinned-missing")
    assert reply["error"]["code"] == "ExtensionVersionNotAvailable", reply
    assert "pins Microsoft.ArgoCD version 9.9.9" in reply["error"]["message"]
    assert "it can take 1.0.0-preview" in reply["error"]["message"]
    assert writes(az) == []


# ------------------------------------------------------------------------------------------ capacity and shape

def test_tainted_pools_do_not_count_for_ha(az: LocalAzure) -> None:
    taints = (["CriticalAddonsOnly=true:NoSchedule"], [])
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-tainted", node_counts=(3, 2), pool_taints=taints)
    reply = ask(az, aks_id("aks-tainted"), "r-auto")  # ha: auto
    assert reply["outcome"] == "succeeded", (reply["error"], reply["steps"])
    settings = az.arm.extension(aks_id("aks-tainted"), "argocd")["properties"]["configurationSettings"]
    assert settings == {"redis-ha.enabled": "false", **MARKER}  # 2 untainted nodes: HA would never schedule
    assert any("5 node(s), 2 of them where Argo CD can run (pool nodepool1 (3 node(s)): taint "
               "CriticalAddonsOnly=true:NoSchedule)" in s for s in reply["steps"])

    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-tainted-ha", node_counts=(3, 2), pool_taints=taints)
    reply = ask(az, aks_id("aks-tainted-ha"), "r-ha", profile="ha")
    assert reply["error"]["code"] == "NotEnoughNodesForHA", reply
    assert "5 node(s), 2 of them where Argo CD can run" in reply["error"]["message"]
    assert "HA needs at least 4 schedulable nodes (Microsoft's Argo CD extension docs, 2026)" in \
        reply["error"]["message"]
    assert [w for w in writes(az) if "aks-tainted-ha" in w] == []


def test_aks_automatic_gets_requests_and_limits_for_every_component(az: LocalAzure) -> None:
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-auto", sku="Automatic")
    reply = ask(az, aks_id("aks-auto"), "r-auto")
    assert reply["outcome"] == "succeeded", reply  # the emulator refuses any container without limits
    settings = az.arm.extension(aks_id("aks-auto"), "argocd")["properties"]["configurationSettings"]
    for component in ("controller", "server", "repoServer", "applicationSet", "redis", "redis-ha.haproxy"):
        assert settings[f"{component}.resources.limits.memory"] and settings[f"{component}.resources.requests.cpu"]
    assert any("AKS Automatic: resource requests and limits for every component" in s for s in reply["steps"])


# --------------------------------------------------------------------------------------- refuse before writing

def test_a_service_principal_cluster_is_refused_before_any_provider_is_registered(az: LocalAzure) -> None:
    az.arm.set_provider(SUBSCRIPTION, "Microsoft.KubernetesConfiguration", "NotRegistered")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-spn", identity="None")
    reply = ask(az, aks_id("aks-spn"), "r-spn")
    assert reply["error"]["code"] == "ClusterNotManagedIdentity", reply
    assert "az aks update -g rg-platform -n aks-spn --enable-managed-identity" in reply["error"]["message"]
    assert writes(az) == [] and az.arm.count("POST") == 0


# --------------------------------------------------------------------------------- the identity's resource group

FAR_GROUP = f"/subscriptions/{OTHER_SUBSCRIPTION}/resourceGroups/rg-identities"


@pytest.fixture
def placed(azurite: Azurite, request: pytest.FixtureRequest) -> Iterator[LocalAzure]:
    """The local Azure with IDENTITY_RESOURCE_GROUP set to the test's parameter."""
    with LocalAzure(azurite=azurite, settings={"IDENTITY_RESOURCE_GROUP": request.param}, provider_states={}) as local:
        yield local


@pytest.mark.parametrize("placed", [FAR_GROUP], indirect=True)
def test_identity_group_in_another_subscription_is_checked_and_used(placed: LocalAzure) -> None:
    local = placed
    local.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-far-id")
    reply = ask(local, aks_id("aks-far-id"), "r-1", profile="workload-identity")
    assert reply["error"]["code"] == "IdentityResourceGroupNotFound", reply
    message = reply["error"]["message"]
    assert f"resource group rg-identities does not exist in subscription {OTHER_SUBSCRIPTION}" in message
    assert "IDENTITY_RESOURCE_GROUP" in message and f"{SUBSCRIPTION}=<group>" in message
    assert writes(local) == []
    processor = local.services.processor  # plan predicts it too, from the same reads
    plan = make_plan(processor.reconciler.api, processor.reconciler.directory, local.services.settings,
                     parse_cluster_id(aks_id("aks-far-id")), processor.profiles.resolve("workload-identity"))
    assert plan.outcome.error_code == "IdentityResourceGroupNotFound" and plan.changes == ()

    local.arm.add_resource_group(OTHER_SUBSCRIPTION, "rg-identities")
    again = ask(local, aks_id("aks-far-id"), "r-2", profile="workload-identity")
    assert again["outcome"] == "succeeded", (again["error"], again["steps"])
    [identity] = local.arm.identities()
    assert identity["id"].lower().startswith(FAR_GROUP.lower() + "/")


@pytest.mark.parametrize("placed", [f"rg-shared-ids,{SUBSCRIPTION}=rg-team-ids"], indirect=True)
def test_identity_group_per_subscription(placed: LocalAzure) -> None:
    local = placed
    local.arm.add_resource_group(SUBSCRIPTION, "rg-team-ids")
    local.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-team")
    assert ask(local, aks_id("aks-team"), "r-team", profile="workload-identity")["outcome"] == "succeeded"
    [identity] = local.arm.identities()
    assert "/resourcegroups/rg-team-ids/" in identity["id"].lower()


# ----------------------------------------------------------------------------------- Argo CD already installed

@pytest.mark.parametrize("kind", ["aks", "arc"])
def test_open_source_argocd_in_the_namespace_ends_with_the_migration_path_after_one_install(
        az: LocalAzure, kind: str) -> None:
    if kind == "aks":
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, "oss")
    else:
        az.arm.add_arc_cluster(SUBSCRIPTION, RG, "oss")
    cluster_id = aks_id("oss") if kind == "aks" else arc_id("oss")
    az.arm.add_oss_argocd(cluster_id)
    reply = ask(az, cluster_id, "r-oss")
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "ArgoCDAlreadyPresent", reply
    message = reply["error"]["message"]
    assert "already runs in namespace argocd" in message and "helm uninstall argocd -n argocd" in message
    assert "argocd admin export" in message and "field is immutable" in message  # Azure's own words kept
    assert az.arm.count("PUT", r"/extensions/argocd$") == 1  # not MAX_INSTALL_ATTEMPTS installs
    assert record(az, cluster_id).attempts == 1
