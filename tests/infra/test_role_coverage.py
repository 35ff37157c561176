"""The app's custom role (infra/bootstrapper-role.json) allows every ARM call the service makes, and not much more.

"Performs" is what the emulator logged: every request of every test in this session that used `local_azure`
(collected by conftest.py; these tests run last), plus a representative scenario run here, so the check never
passes on an empty log. Beyond what was observed, the role may hold only JUSTIFIED_EXTRA, each with its reason.
"""
from __future__ import annotations

from typing import Any

import pytest

from localazure.stack import SUBSCRIPTION, LocalAzure
from tests.e2e.helpers import replies, send_request
from tests.infra.arm_actions import UnmappedRequest, is_graph, is_resource_graph, rbac_action
from tests.infra.bicep import role_actions
from tests.infra.conftest import ArmRequestRecorder

RG = "rg-role-coverage"

# In the role although no end-to-end test exercises them: "action": "why, and which code calls it". Empty now: the
# end-to-end tests exercise every action of the role. Add an entry only for a call shared/ makes that they cannot.
JUSTIFIED_EXTRA: dict[str, str] = {
    "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action":
        "no request of its own: AKS checks it on the linked control-plane identity of every PUT of a cluster with a "
        "user-assigned identity (enable_workload_identity); test_turning_on_workload_identity_* below show the PUT "
        "refused without it and accepted with it",
}

# What the representative scenario below must exercise, or it did not run.
FLOOR = {
    "Microsoft.Resources/subscriptions/providers/read",
    "Microsoft.Kubernetes/register/action",
    "Microsoft.ContainerService/register/action",
    "Microsoft.KubernetesConfiguration/register/action",
    "Microsoft.ContainerService/managedClusters/read",
    "Microsoft.Kubernetes/connectedClusters/read",
    "Microsoft.KubernetesConfiguration/extensions/read",
    "Microsoft.KubernetesConfiguration/extensions/write",
}


def _representative_scenario(az: LocalAzure) -> None:
    """A fresh subscription (no provider registered), a new AKS cluster and a new Arc cluster, through events."""
    for namespace in ("Microsoft.Kubernetes", "Microsoft.ContainerService", "Microsoft.KubernetesConfiguration"):
        az.arm.set_provider(SUBSCRIPTION, namespace, "NotRegistered")
    az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-role-coverage", node_counts=(3,)))
    az.deliver_event(az.arm.add_arc_cluster(SUBSCRIPTION, RG, "arc-role-coverage", node_count=3))
    az.drain()


def _observed(requests: set[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Action (lower-cased) -> one request that needed it; and the requests no action is known for."""
    actions: dict[str, str] = {}
    unmapped = []
    for method, path in sorted(requests):
        if is_graph(path) or is_resource_graph(path):
            continue  # Microsoft Graph (Entra permissions, not Azure RBAC); Resource Graph (the reads it returns)
        try:
            actions.setdefault(rbac_action(method, path).lower(), f"{method} {path}")
        except UnmappedRequest as exc:
            unmapped.append(str(exc))
    return actions, unmapped


def test_the_action_map(arm_recorder: ArmRequestRecorder) -> None:
    cluster = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.ContainerService/" \
              "managedClusters/a"
    identity = f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{RG}/providers/Microsoft.ManagedIdentity/" \
               "userAssignedIdentities/id-a"
    assert rbac_action("GET", f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Kubernetes") == \
        "Microsoft.Resources/subscriptions/providers/read"
    assert rbac_action("POST", f"/subscriptions/{SUBSCRIPTION}/providers/microsoft.kubernetesconfiguration/register") \
        == "Microsoft.KubernetesConfiguration/register/action"
    assert rbac_action("GET", f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.ContainerService/managedClusters") \
        == "Microsoft.ContainerService/managedClusters/read"
    assert rbac_action("PATCH", f"{cluster}/providers/Microsoft.KubernetesConfiguration/extensions/argocd") == \
        "Microsoft.KubernetesConfiguration/extensions/write"
    assert rbac_action("GET", f"{cluster}/providers/Microsoft.KubernetesConfiguration/extensions/argocd/operations/"
                              "op-1") == "Microsoft.KubernetesConfiguration/extensions/operations/read"
    assert rbac_action("DELETE", f"{identity}/federatedIdentityCredentials/argocd-server") == \
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete"
    assert rbac_action("PUT", f"{cluster}/providers/Microsoft.Authorization/roleAssignments/1") == \
        "Microsoft.Authorization/roleAssignments/write"
    assert is_graph("/v1.0/applications/1e84e2d9/federatedIdentityCredentials") and not is_graph(cluster)
    assert is_resource_graph("/providers/Microsoft.ResourceGraph/resources") and not is_resource_graph(cluster)
    subscription = f"/subscriptions/{SUBSCRIPTION}"
    for method, path in (("POST", f"{cluster}/runCommand"), ("GET", f"{subscription}/resourcegroups"),
                         ("PUT", f"{subscription}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/vm"),
                         ("POST", f"{subscription}/providers/X/register")):
        with pytest.raises(UnmappedRequest, match="subscriptions"):
            rbac_action(method, path)


def test_role_covers_every_arm_request_the_service_made(local_azure: LocalAzure,
                                                        arm_recorder: ArmRequestRecorder) -> None:
    _representative_scenario(local_azure)
    scenario, _ = _observed({(r.method, r.path) for r in local_azure.arm.requests})
    assert {a.lower() for a in FLOOR} <= set(scenario), f"the scenario did not run: {sorted(scenario)}"
    requests = arm_recorder.requests | {(r.method, r.path) for r in local_azure.arm.requests}
    observed, unmapped = _observed(requests)
    assert unmapped == [], "ARM requests with no known RBAC action (map them in tests/infra/arm_actions.py):\n" + \
        "\n".join(unmapped)
    role = {a.lower() for a in role_actions()}
    missing = [f"{action}  (needed by {example})" for action, example in observed.items() if action not in role]
    assert missing == [], "the custom role lacks actions the service used (add to infra/bootstrapper-role.json):\n" + \
        "\n".join(missing)


def test_role_grants_nothing_beyond_the_observed_and_the_justified(arm_recorder: ArmRequestRecorder) -> None:
    if not arm_recorder.whole_e2e_suite_ran():
        pytest.skip("needs every test of tests/e2e in this session (./dev test runs them) to know what is observed")
    observed, _ = _observed(arm_recorder.requests)
    assert len(arm_recorder.tests_with_requests) >= 5, "too few tests made ARM requests: is the recorder working?"
    justified = {a.lower(): reason for a, reason in JUSTIFIED_EXTRA.items()}
    beyond = {a for a in (x.lower() for x in role_actions()) if a not in observed}
    unjustified = sorted(beyond - set(justified))
    now_observed = sorted(set(justified) & set(observed))
    not_in_role = sorted(set(justified) - beyond - set(observed))
    problems = [f"in the role but neither observed nor justified (remove it, or justify it in JUSTIFIED_EXTRA): {a}"
                for a in unjustified]
    problems += [f"now exercised by the tests (delete its JUSTIFIED_EXTRA line): {a}, e.g. {observed[a]}"
                 for a in now_observed]
    problems += [f"justified but not in infra/bootstrapper-role.json (delete its JUSTIFIED_EXTRA line): {a}"
                 for a in not_in_role]
    assert problems == [], "\n".join(problems)


def _enable_on_a_user_assigned_cluster(az: LocalAzure, name: str, actions: list[str]) -> dict[str, Any]:
    """The app holding exactly `actions`, a profile that turns workload identity on, an AKS cluster whose control
    plane has a user-assigned identity: the reply."""
    az.arm.set_permissions(actions)
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, name, identity="UserAssigned", oidc_issuer=False, workload_identity=False)
    send_request(az, _aks(name), message_id=f"r-{name}", profile="enable-wi")
    az.drain()
    [reply] = [r for r in replies(az) if r["requestId"] == f"r-{name}"]
    return reply


def _aks(name: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.ContainerService/" \
           f"managedClusters/{name}"


def _cluster_puts(az: LocalAzure, name: str) -> list[int]:
    return [r.status for r in az.arm.requests if r.method == "PUT" and r.path.endswith(f"/managedClusters/{name}")]


def test_turning_on_workload_identity_is_refused_by_the_role_deployed_without_the_feature(
        platform_azure: LocalAzure) -> None:
    reply = _enable_on_a_user_assigned_cluster(platform_azure, "aks-wi-off",
                                               role_actions(enable_workload_identity_on_clusters=False))
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "AuthorizationFailed", reply
    message = reply["error"]["message"]
    assert "'Microsoft.ContainerService/managedClusters/write'" in message
    assert "enableWorkloadIdentityOnClusters=true" in message and "az aks update -g rg-role-coverage" in message
    assert _cluster_puts(platform_azure, "aks-wi-off") == [403]


def test_turning_on_workload_identity_needs_assign_on_the_control_plane_identity(platform_azure: LocalAzure) -> None:
    # The role before this fix: the cluster write, but not the right to name its user-assigned identity in the PUT.
    without_assign = [a for a in role_actions() if not a.endswith("/userAssignedIdentities/assign/action")]
    reply = _enable_on_a_user_assigned_cluster(platform_azure, "aks-wi-noassign", without_assign)
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "LinkedAuthorizationFailed", reply
    message = reply["error"]["message"]
    assert "has permission to perform action 'Microsoft.ContainerService/managedClusters/write'" in message
    assert "'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) " \
           f"'/subscriptions/{SUBSCRIPTION}/resourcegroups/{RG}/providers/Microsoft.ManagedIdentity/" \
           "userAssignedIdentities/aks-wi-noassign-identity'" in message
    assert "enableWorkloadIdentityOnClusters=true" in message
    assert _cluster_puts(platform_azure, "aks-wi-noassign") == [403]


def test_turning_on_workload_identity_works_with_the_role_deployed_with_the_feature(platform_azure: LocalAzure) -> None:
    reply = _enable_on_a_user_assigned_cluster(platform_azure, "aks-wi-on", role_actions())
    assert reply["outcome"] == "succeeded", reply
    assert _cluster_puts(platform_azure, "aks-wi-on") == [200]
    cluster = platform_azure.arm.cluster(_aks("aks-wi-on"))
    assert cluster["properties"]["securityProfile"]["workloadIdentity"] == {"enabled": True}
