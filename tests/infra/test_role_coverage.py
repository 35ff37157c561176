"""The app's custom role (infra/bootstrapper-role.json) allows every ARM call the service makes, and not much more.

"Performs" is what the emulator logged: every request of every test in this session that used `local_azure`
(collected by conftest.py; these tests run last), plus a representative scenario run here, so the check never
passes on an empty log. Beyond what was observed, the role may hold only JUSTIFIED_EXTRA, each with its reason.
"""
from __future__ import annotations

import pytest

from localazure.stack import SUBSCRIPTION, LocalAzure
from tests.infra.arm_actions import UnmappedRequest, is_graph, rbac_action
from tests.infra.bicep import role_actions
from tests.infra.conftest import ArmRequestRecorder

RG = "rg-role-coverage"

# In the role although no end-to-end test exercises them: "action": "why, and which code calls it". Empty now: the
# end-to-end tests exercise every action of the role. Add an entry only for a call shared/ makes that they cannot.
JUSTIFIED_EXTRA: dict[str, str] = {}

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
        if is_graph(path):
            continue  # Microsoft Graph (the SSO application's credentials): Entra permissions, not Azure RBAC
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
    assert rbac_action("GET", f"/subscriptions/{SUBSCRIPTION}/resources") == \
        "Microsoft.Resources/subscriptions/resources/read"
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
