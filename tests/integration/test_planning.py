"""Dry runs over the real ARM gateway and emulator: the reconciler's own decisions, writes withheld."""
from __future__ import annotations

from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.planning import Plan, PlannedChange, SettingChange, make_plan
from tests.e2e.helpers import MARKER, RG, aks_id


def plan_for(az: LocalAzure, name: str, profile: str = "default") -> Plan:
    processor = az.services.processor
    return make_plan(processor.reconciler.api, processor.reconciler.directory, az.services.settings,
                     parse_cluster_id(aks_id(name)), processor.profiles.resolve(profile))


def test_unregistered_provider_and_new_extension_are_planned_not_sent(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.set_provider(SUBSCRIPTION, "Microsoft.KubernetesConfiguration", "NotRegistered")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-plan", node_counts=(4,))
    plan = plan_for(az, "aks-plan")
    assert [(c.action, c.target) for c in plan.changes] == [
        ("register-provider", "Microsoft.KubernetesConfiguration"), ("create-extension", "argocd")]
    assert plan.changes[1].settings == (SettingChange("argoboot.managedBy", None, "argoboot"),
                                        SettingChange("redis-ha.enabled", None, "true"))
    assert plan.outcome.waiting_on == "extension"
    assert {r.method for r in az.arm.requests} == {"GET"}
    assert az.arm.extension(aks_id("aks-plan"), "argocd") is None


def test_failed_extension_is_planned_as_a_reinstall_with_each_setting_compared(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-failed", node_counts=(4,))
    az.arm.add_extension(aks_id("aks-failed"), "argocd", provisioning_state="Failed",
                         settings={"redis-ha.enabled": "false", "legacy.key": "1", **MARKER})  # the service's
    plan = plan_for(az, "aks-failed")
    [change] = plan.changes
    assert isinstance(change, PlannedChange) and change.action == "replace-extension"
    assert "it is Failed, ExtensionOperationFailed now" in change.detail
    assert [(s.key, s.kind) for s in change.settings] == [
        ("argoboot.managedBy", "keep"), ("legacy.key", "remove"), ("redis-ha.enabled", "change")]
    assert plan.extension is not None and plan.extension.provisioning_state == "Failed"
    assert {r.method for r in az.arm.requests} == {"GET"}
    assert az.arm.extension(aks_id("aks-failed"), "argocd")["properties"]["provisioningState"] == "Failed"


def test_a_plan_that_cannot_go_on_stops_where_the_run_would(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-creating", provisioning_state="Creating", ready_after=300)
    plan = plan_for(az, "aks-creating")
    assert plan.changes == () and plan.outcome.waiting_on == "cluster"
    assert plan.facts is not None and plan.facts.provisioning_state == "Creating"


def test_workload_identity_plan_lists_the_identity_and_its_credentials_and_sends_only_reads(
        local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-wi", node_counts=(4,))
    plan = plan_for(az, "aks-wi", "workload-identity")
    actions = [c.action for c in plan.changes]
    assert actions[0] == "create-identity" and actions[-1] == "create-extension"
    assert "put-federated-credential" in actions
    settings = {s.key: s for s in plan.changes[-1].settings}
    assert all(s.kind == "add" for s in settings.values()) and settings["redis-ha.enabled"].desired == "true"
    assert {r.method for r in az.arm.requests} == {"GET"}
    assert az.arm.identities() == []


def test_drifted_settings_are_planned_as_an_update_key_by_key(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-drift", node_counts=(4,))
    az.arm.add_extension(aks_id("aks-drift"), "argocd",
                         settings={"redis-ha.enabled": "false", "by.hand": "x", **MARKER})
    plan = plan_for(az, "aks-drift")
    [change] = plan.changes
    assert change.action == "update-extension"
    assert [(s.key, s.current, s.desired, s.kind) for s in change.settings] == [
        ("by.hand", "x", None, "remove"), ("redis-ha.enabled", "false", "true", "change")]
    assert {r.method for r in az.arm.requests} == {"GET"}
