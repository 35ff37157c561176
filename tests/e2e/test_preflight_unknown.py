"""Pre-flight refuses only on Azure's evidence. An extension-types API that is not served in the region (404
InvalidResourceType, as the Azure CLI's tracker shows for some regions), a 5xx past azure-core's retries, or an
answer of a shape the service does not know, makes the availability check *unknown*: the install goes ahead, and
the steps (hence the reply, the ledger's history and the status API) say which check could not be made and why.
`plan` says unknown for it too, and for availability while Microsoft.KubernetesConfiguration is unregistered."""
from __future__ import annotations

import pytest

from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.planning import make_plan
from shared.pipeline.status_view import cluster_view
from tests.e2e.helpers import RG, aks_id, arc_id, ask, record

TYPES = r"/extensionTypes/"
UNKNOWN = "pre-flight check availability unknown"


@pytest.mark.parametrize(("kind", "status", "code", "why"), [
    ("aks", 404, "InvalidResourceType", "404 InvalidResourceType"),  # the API is not served in the region
    ("arc", 404, "InvalidResourceType", "404 InvalidResourceType"),
    ("aks", 503, "ServiceUnavailable", "503 ServiceUnavailable"),  # past azure-core's retries
    ("aks", 200, "Unexpected", "UnreadableAnswer"),  # a 200 without a `value` list
])
def test_an_availability_answer_the_service_cannot_read_is_unknown_and_the_install_goes_ahead(
        local_azure: LocalAzure, kind: str, status: int, code: str, why: str) -> None:
    az = local_azure
    az.arm.inject(method="GET", path_regex=TYPES, status=status, code=code, message="no such thing here", times=50)
    if kind == "aks":
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, "c-unknown")
    else:
        az.arm.add_arc_cluster(SUBSCRIPTION, RG, "c-unknown")
    cluster_id = aks_id("c-unknown") if kind == "aks" else arc_id("c-unknown")

    reply = ask(az, cluster_id, "r-unknown")

    assert reply["outcome"] == "succeeded", reply  # not ExtensionNotOffered: Azure never said no
    [step] = [s for s in reply["steps"] if s.startswith(UNKNOWN)]
    assert why in step and "installing anyway" in step, step
    assert any(h["step"].startswith(UNKNOWN) for h in record(az, cluster_id).history)  # the ledger
    assert any(UNKNOWN in str(h) for h in cluster_view(record(az, cluster_id))["history"])  # the status API


def test_a_region_whose_list_lacks_the_type_is_still_refused(local_azure: LocalAzure) -> None:
    """The evidence case beside the unknown ones: Azure's extension-types API answers, and says no."""
    az = local_azure
    az.arm.withdraw_argocd("brazilsouth")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "far", location="brazilsouth")
    assert ask(az, aks_id("far"), "r-far")["error"]["code"] == "ExtensionNotOffered"


def _plan(az: LocalAzure, cluster_id: str):  # type: ignore[no-untyped-def]
    processor = az.services.processor
    return make_plan(processor.reconciler.api, processor.reconciler.directory, az.services.settings,
                     parse_cluster_id(cluster_id), processor.profiles.resolve("default"))


def test_plan_says_unknown_where_the_api_is_not_served(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.inject(method="GET", path_regex=TYPES, status=404, code="InvalidResourceType", times=50)
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-plan")
    plan = _plan(az, aks_id("aks-plan"))
    assert plan.outcome.error_code is None
    assert any(s.startswith(UNKNOWN) and "404 InvalidResourceType" in s for s in plan.outcome.steps), plan.outcome


def test_plan_says_availability_is_unknown_while_the_provider_is_unregistered(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-unreg")
    az.arm.set_provider(SUBSCRIPTION, "Microsoft.KubernetesConfiguration", "NotRegistered")
    az.arm.clear_log()
    plan = _plan(az, aks_id("aks-unreg"))
    assert [c.action for c in plan.changes][:1] == ["register-provider"]
    [step] = [s for s in plan.outcome.steps if s.startswith(UNKNOWN)]
    assert "MissingSubscriptionRegistration" in step and "not registered" in step, step
    assert [r for r in az.arm.requests if r.method != "GET"] == [] and az.arm.count("GET", TYPES) == 0


def test_plan_where_the_clusters_own_provider_is_unregistered_says_its_checks_are_unknown(
        local_azure: LocalAzure) -> None:
    """Before, the plan registered the provider, assumed it done and ended `succeeded` having checked nothing."""
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-no-cs")
    az.arm.set_provider(SUBSCRIPTION, "Microsoft.ContainerService", "NotRegistered")
    plan = _plan(az, aks_id("aks-no-cs"))
    assert plan.outcome.phase.value == "waiting" and plan.outcome.waiting_on == "providers", plan.outcome
    [change] = plan.changes
    assert change.action == "register-provider" and "every pre-flight check is unknown" in change.detail


def test_plan_of_an_aks_cluster_goes_on_past_arcs_unregistered_provider(local_azure: LocalAzure) -> None:
    """Microsoft.Kubernetes (Arc's provider) holds no AKS cluster back: the plan registers it and goes on to the
    checks and the install, and only the cluster's own provider (ContainerService) stops it (the test above).
    Before, an AKS plan in a subscription without Arc's provider stopped at "waiting for Microsoft.Kubernetes"."""
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-no-arc")
    az.arm.set_provider(SUBSCRIPTION, "Microsoft.Kubernetes", "NotRegistered")
    plan = _plan(az, aks_id("aks-no-arc"))
    actions = [c.action for c in plan.changes]
    assert "register-provider" in actions and "create-extension" in actions, plan.changes
    assert not any("every pre-flight check is unknown" in c.detail for c in plan.changes), plan.changes
    assert plan.outcome.waiting_on != "providers", plan.outcome
