"""The local Resource Graph, through the real `azure-mgmt-resourcegraph` client: the query subset the service sends,
paging, quota headers, the rows a caller may read, and Resource Graph's refusal of anything else."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from localazure.arm.emulator import ArmEmulator
from localazure.clock import VirtualClock
from shared.azure.errors import AzureError
from shared.azure.resource_graph import RESOURCE_GRAPH_API_VERSION, ResourceGraphGateway
from shared.pipeline.fleet_view import CLUSTERS_QUERY, EXTENSIONS_QUERY, IDENTITIES_QUERY
from tests.infra.bicep import role_actions
from tests.localazure.arm_clients import SUB, options

RG = "rg-graph"
OTHER = "0d9e4b7a-53c1-4f0e-8e2b-7c6a5d4f3e21"


@pytest.fixture
def emu(clock: VirtualClock) -> Iterator[ArmEmulator]:
    with ArmEmulator(clock, provider_states={}) as running:
        running.add_subscription(SUB, "Platform")
        running.add_subscription(OTHER, "Other")
        yield running


@pytest.fixture
def client(emu: ArmEmulator, credential: DefaultAzureCredential) -> ResourceGraphClient:
    return ResourceGraphClient(credential, api_version=RESOURCE_GRAPH_API_VERSION, **options(emu))


def _ask(client: ResourceGraphClient, query: str, subscriptions: list[str], **opts: Any) -> tuple[Any, Any]:
    """The answer and its headers."""
    return client.resources(QueryRequest(subscriptions=subscriptions, query=query,  # type: ignore[no-any-return]
                                         options=QueryRequestOptions(result_format="objectArray", **opts)),
                            cls=lambda pipeline, body, _: (body, pipeline.http_response.headers))


def test_the_services_queries_answer_from_the_same_state_as_arm(emu: ArmEmulator, client: ResourceGraphClient) -> None:
    aks = emu.add_aks_cluster(SUB, RG, "aks-1", tags={"team": "a"})["subject"]
    arc = emu.add_arc_cluster(OTHER, RG, "arc-1", connectivity="Offline")["subject"]
    emu.add_extension(aks, "argocd", settings={"a": "b"})
    emu.add_extension(aks, "flux", extension_type="microsoft.flux")
    ours = emu.add_identity(SUB, RG, "id-ours", tags={"managed-by": "argoboot"})
    emu.add_identity(SUB, RG, "id-other", tags={"managed-by": "someone"})
    clusters, headers = _ask(client, CLUSTERS_QUERY, [SUB, OTHER])
    assert sorted((r["id"], r["provisioningState"], r["connectivityStatus"]) for r in clusters.data) == \
        sorted([(emu.cluster(aks)["id"], "Succeeded", None), (emu.cluster(arc)["id"], "Succeeded", "Offline")])
    assert next(r for r in clusters.data if r["id"] == emu.cluster(aks)["id"])["tags"] == {"team": "a"}
    assert headers["x-ms-user-quota-remaining"].isdigit() and headers["x-ms-user-quota-resets-after"]
    extensions, _ = _ask(client, EXTENSIONS_QUERY, [SUB])
    assert [(r["name"], r["settings"], r["provisioningState"]) for r in extensions.data] == \
        [("argocd", {"a": "b"}, "Succeeded")]  # the Argo CD extension only, without systemData
    identities, _ = _ask(client, IDENTITIES_QUERY, [SUB])
    assert [r["id"].lower() for r in identities.data] == [ours.lower()]
    only_other, _ = _ask(client, CLUSTERS_QUERY, [OTHER])
    assert [r["id"] for r in only_other.data] == [emu.cluster(arc)["id"]]  # the subscriptions asked for, only


def test_pages_follow_the_skip_token(emu: ArmEmulator, client: ResourceGraphClient) -> None:
    for i in range(5):
        emu.add_aks_cluster(SUB, RG, f"aks-{i}")
    first, _ = _ask(client, CLUSTERS_QUERY, [SUB], top=2)
    assert (first.total_records, first.count, len(first.data)) == (5, 2, 2) and first.skip_token
    second, _ = _ask(client, CLUSTERS_QUERY, [SUB], top=2, skip_token=first.skip_token)
    third, _ = _ask(client, CLUSTERS_QUERY, [SUB], top=2, skip_token=second.skip_token)
    assert third.skip_token is None and len(third.data) == 1
    assert len({r["id"] for r in first.data + second.data + third.data}) == 5


def test_a_query_outside_the_subset_is_refused_as_resource_graph_refuses_it(client: ResourceGraphClient) -> None:
    for query in ("resources | summarize count() by type", "securityresources",
                  "resources | where type == \"microsoft.containerservice/managedclusters\""):
        with pytest.raises(HttpResponseError) as refused:
            _ask(client, query, [SUB])
        assert refused.value.status_code == 400
        error = refused.value.response.json()["error"]
        assert error["code"] == "BadRequest"
        assert [d["code"] for d in error["details"]] == ["InvalidQuery", "ParserFailure"]
        assert error["details"][0]["message"].startswith("Query is invalid.")


def test_a_caller_sees_only_the_rows_of_types_it_may_read(emu: ArmEmulator, client: ResourceGraphClient) -> None:
    """No action of Resource Graph's own: the role's reads decide, as Microsoft documents."""
    aks = emu.add_aks_cluster(SUB, RG, "aks-1")["subject"]
    emu.add_extension(aks, "argocd")
    emu.set_permissions(role_actions())
    assert len(_ask(client, CLUSTERS_QUERY, [SUB])[0].data) == 1
    assert len(_ask(client, EXTENSIONS_QUERY, [SUB])[0].data) == 1
    emu.set_permissions([a for a in role_actions() if not a.startswith("Microsoft.ContainerService/")])
    assert _ask(client, CLUSTERS_QUERY, [SUB])[0].data == []


def test_quota_headers_count_down_and_the_gateway_waits_instead_of_being_throttled(
        emu: ArmEmulator, credential: DefaultAzureCredential) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-1")
    emu.set_resource_graph(quota=(2, 1.0))  # two queries per second
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        import time
        time.sleep(seconds)

    gateway = ResourceGraphGateway(credential, endpoint=emu.url, ca_bundle=emu.ca_path, sleep=sleep)
    for _ in range(3):
        assert len(gateway.query(CLUSTERS_QUERY, [SUB])) == 1
    assert len(slept) == 1 and 0 < slept[0] <= 1.0  # the third query waited for the window, once
    assert [r.status for r in emu.requests] == [200, 200, 200]  # and was never answered 429


def test_a_quota_spent_elsewhere_costs_one_429_then_the_gateway_stops_asking(
        emu: ArmEmulator, credential: DefaultAzureCredential, client: ResourceGraphClient) -> None:
    """Another instance of the app (the same principal) spent the window: the gateway meets one 429, does not retry
    it, and refuses to send again before the reset."""
    emu.set_resource_graph(quota=(2, 60.0))
    _ask(client, CLUSTERS_QUERY, [SUB])
    _ask(client, CLUSTERS_QUERY, [SUB])
    gateway = ResourceGraphGateway(credential, endpoint=emu.url, ca_bundle=emu.ca_path, retry_backoff=0)
    for _ in range(2):
        with pytest.raises(AzureError) as throttled:
            gateway.query(CLUSTERS_QUERY, [SUB])
        assert throttled.value.status == 429 and (throttled.value.retry_after or 0) > 10
    assert [r.status for r in emu.requests] == [200, 200, 429]


def test_more_subscriptions_than_one_request_takes_are_queried_in_batches(
        emu: ArmEmulator, credential: DefaultAzureCredential) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-1")
    many = [SUB, *(f"00000000-0000-0000-0000-{i:012d}" for i in range(1, 1001))]
    gateway = ResourceGraphGateway(credential, endpoint=emu.url, ca_bundle=emu.ca_path)
    assert len(gateway.query(CLUSTERS_QUERY, many)) == 1
    assert sorted(len(r.body["subscriptions"]) for r in emu.requests) == [1, 1000]
