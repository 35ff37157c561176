"""The status API through its HTTP entry points (real `azure.functions.HttpRequest`s, routed as the host would)."""
from __future__ import annotations

import base64
import json
from typing import Any

import azure.functions as func

from localazure.stack import SUBSCRIPTION, LocalAzure
from tests.e2e.helpers import RG, aks_id, send_request


def body(response: func.HttpResponse, status: int) -> Any:
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/json"
    return json.loads(response.get_body())


def test_list_one_cluster_and_one_request(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-status")
    az.deliver_event(event)
    cluster_id = aks_id("aks-status")  # the event's own casing differs: the API answers in Azure's documented one
    send_request(az, aks_id("ghost"), message_id="m-ghost", requestId="r-ghost")
    az.drain()

    listed = body(az.http("GET", "/api/clusters"), 200)
    assert listed["count"] == 2
    assert {c["clusterResourceId"]: c["phase"] for c in listed["clusters"]} == {
        cluster_id: "succeeded", aks_id("ghost"): "failed"}
    failed = body(az.http("GET", "/api/clusters", {"phase": "failed"}), 200)
    assert [c["lastError"]["code"] for c in failed["clusters"]] == ["ClusterNotFound"]
    assert "history" not in failed["clusters"][0]
    assert body(az.http("GET", "/api/clusters", {"phase": "deleted"}), 200) == {"count": 0, "clusters": []}

    one = body(az.http("GET", "/api/clusters" + cluster_id), 200)
    assert one["clusterResourceId"] == cluster_id and one["phase"] == "succeeded" and one["attempts"] == 1
    assert one["history"][-1]["step"].startswith("extension argocd Succeeded")
    assert one["lastChanged"].endswith("+00:00")
    assert body(az.http("GET", "/api/clusters" + event["data"]["resourceUri"]), 200) == one
    assert body(az.http("GET", "/api/CLUSTERS" + cluster_id.upper()), 200) == one  # ARM ids are case-insensitive
    assert body(az.http("GET", "/api/clusters" + cluster_id + "/"), 200) == one

    request = body(az.http("GET", "/api/requests/r-ghost"), 200)
    assert request["status"] == "failed" and request["error"]["code"] == "ClusterNotFound"
    assert request["clusterKey"] == aks_id("ghost").lower() and request["action"] == "bootstrap"


def test_unknown_and_malformed_lookups_answer_with_a_json_error(local_azure: LocalAzure) -> None:
    az = local_azure
    missing = body(az.http("GET", "/api/clusters" + aks_id("never-seen")), 404)
    assert missing["error"]["code"] == "ClusterNotFound" and "never-seen" in missing["error"]["message"]
    assert body(az.http("GET", "/api/requests/r-nope"), 404)["error"]["code"] == "RequestNotFound"
    assert body(az.http("GET", "/api/requests/a%23b"), 400)["error"]["code"] == "InvalidRequestId"  # not of the grammar
    bad = body(az.http("GET", f"/api/clusters/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}"), 400)
    assert bad["error"]["code"] == "InvalidClusterResourceId"
    assert body(az.http("GET", "/api/clusters/subscriptions/not-a-guid"), 400)["error"]["code"] == \
        "InvalidClusterResourceId"
    phase = body(az.http("GET", "/api/clusters", {"phase": "broken"}), 400)
    assert phase["error"]["code"] == "InvalidPhase" and "failed" in phase["error"]["message"]
    assert az.http("POST", "/api/clusters").status_code == 404  # read-only: no other method is routed


def test_a_cluster_in_flight_shows_what_it_waits_on_but_not_who_waits(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-busy")
    cluster_id = event["data"]["resourceUri"]
    send_request(az, cluster_id, message_id="m-secret-correlation", reply_to="team-a-private-replies",
                 requestId="r-busy")
    assert az.deliver_one() and az.deliver_one()  # forwarded, then run
    raw = az.http("GET", "/api/clusters" + cluster_id).get_body().decode()
    one = json.loads(raw)
    assert one["phase"] == "waiting" and one["waitingOn"] and one["lastRequestId"] == "r-busy"
    assert "team-a-private-replies" not in raw and "m-secret-correlation" not in raw
    assert not {"waiters", "continuation", "continuationDue", "polls", "etag", "key"} & set(one)
    assert body(az.http("GET", "/api/requests/r-busy"), 200)["status"] == "waiting"
    az.drain()


def _principal(*claims: tuple[str, str]) -> str:
    """The X-MS-CLIENT-PRINCIPAL header App Service authentication sets: base64 JSON of the token's claims."""
    body = {"auth_typ": "aad", "name_typ": "name", "role_typ": "roles",
            "claims": [{"typ": typ, "val": val} for typ, val in claims]}
    return base64.b64encode(json.dumps(body).encode()).decode()


def test_behind_entra_id_every_route_needs_the_app_role(local_azure: LocalAzure) -> None:
    az = local_azure
    az.reconfigure(status_api_role="Status.Read")
    routes = ("/api/clusters", f"/api/clusters{aks_id('aks-1')}", "/api/requests/r-1")
    for headers in ({}, {"x-ms-client-principal": _principal(("roles", "Status.Write"), ("name", "Status.Read"))},
                    {"x-ms-client-principal": "not base64 {"}, {"x-ms-client-principal": _principal()}):
        for route in routes:
            response = az.http("GET", route, headers=headers)
            error = json.loads(response.get_body())["error"]
            assert (response.status_code, error["code"]) == (403, "MissingAppRole")
            assert "Status.Read" in error["message"]
    allowed = {"x-ms-client-principal": _principal(("roles", "Status.Read"))}
    assert az.http("GET", "/api/clusters", headers=allowed).status_code == 200
    assert az.http("GET", "/api/requests/r-1", headers=allowed).status_code == 404  # past the check: not known
