"""End to end: the operator's rollout actions as requests, each behind a boundary Azure enforces. On the internal work
queue (Data Sender on it: the app and the rollout operators, infra `rolloutOperatorPrincipalIds`), answered to
ReplyTo; at POST /api/rollouts/{profile}/resume|abort with the host's master key (ADMIN). The public request queue,
where anyone with Send could write the body, refuses them, and its forwarder cannot turn a request into one."""
from __future__ import annotations

import json
from typing import Any

from localazure.stack import QUEUE, REPLIES, WORK, LocalAzure
from shared.azure.outbox import OutgoingMessage
from shared.bootstrap.cluster_ids import session_id_of
from tests.e2e import test_rollout as rollout
from tests.e2e.helpers import aks_id, replies
from tests.e2e.test_rollout import halt, state, sweep

staged = rollout.staged  # the same fleet: a canary, two early clusters and two others on profile `staged`


def operator_sends(az: LocalAzure, action: str, message_id: str, *, session: str = "rollout-staged",
                   **fields: Any) -> list[dict[str, Any]]:
    """A rollout operator (Data Sender on the work queue) sends one action; the answers to it."""
    operators = az.bus.sender("platform-operators", [WORK])
    body = {"schemaVersion": 1, "action": action, "profile": "staged", **fields}
    operators.send(OutgoingMessage(queue=WORK, body=json.dumps(body).encode(), message_id=message_id,
                                   session_id=session, reply_to=REPLIES))
    az.drain()
    return [r for r in replies(az) if r["_correlationId"] == message_id]


def answer(az: LocalAzure, action: str, message_id: str, **fields: Any) -> dict[str, Any]:
    [one] = operator_sends(az, action, message_id, **fields)
    return one


def test_resume_abort_and_status_through_the_work_queue_with_replies(staged: LocalAzure) -> None:
    az = staged
    halt(az)
    resumed = answer(az, "rollout-resume", "op-1", requestId="resume-1")
    assert (resumed["outcome"], resumed["action"], resumed["error"]) == ("succeeded", "rollout-resume", None)
    assert (resumed["rollout"]["status"], resumed["rollout"]["failures"]) == ("running", [])
    assert resumed["rollout"]["clusters"]["admitted"] == 1 and state(az).status == "running"
    assert state(az).reason == "resumed by rollout-resume request resume-1"
    assert set(sweep(az)) == {aks_id("aks-canary").lower()}  # its wave again, nobody else
    az.drain()
    aborted = answer(az, "rollout-abort", "op-2", requestId="abort-1")
    assert aborted["rollout"]["status"] == "aborted" == state(az).status
    # The first resume again (a redelivery, a retry with the same requestId): done already, it resumes nothing.
    # Answered once: the reply's message id is the first one's, which the reply queue drops as a duplicate.
    assert operator_sends(az, "rollout-resume", "op-3", requestId="resume-1") == []
    assert state(az).status == "aborted" and state(az).reason == "aborted by rollout-abort request abort-1"
    shown = answer(az, "rollout-status", "op-4")  # a read: the status API's view
    assert shown["rollout"] == json.loads(az.http("GET", "/api/rollouts/staged").get_body())
    assert az.services.ledger.get_request("resume-1") is not None  # GET /api/requests/resume-1 shows it
    assert az.bus.dead_letters(WORK) == []


def test_a_rollout_action_on_the_work_queue_is_checked_like_any_request(staged: LocalAzure) -> None:
    az = staged
    halt(az)
    wrong = answer(az, "rollout-abort", "op-session", session=session_id_of(aks_id("aks-canary").lower()))
    assert (wrong["outcome"], wrong["error"]["code"]) == ("rejected", "WrongSession")
    assert "rollout-staged" in wrong["error"]["message"]
    unknown = answer(az, "rollout-abort", "op-field", session="rollout-staged", clusterResourceId="x")
    assert unknown["error"]["code"] == "UnknownField"
    bad = answer(az, "rollout-abort", "op-profile", session="rollout-staged", requestId="r\nx")
    assert bad["error"]["code"] == "InvalidRequestId"
    assert answer(az, "rollout-resume", "op-reuse", requestId="abort-me")["outcome"] == "succeeded"
    reused = answer(az, "rollout-abort", "op-reuse-2", requestId="abort-me")  # another action, same id
    assert reused["error"]["code"] == "RequestIdInUse"
    assert state(az).status == "running"  # neither refused message changed the rollout
    assert sorted(d.reason for d in az.bus.dead_letters(WORK)) == [
        "InvalidRequestId", "RequestIdInUse", "UnknownField", "WrongSession"]


def test_the_public_queue_refuses_rollout_actions_and_its_forwarder_cannot_smuggle_one(staged: LocalAzure) -> None:
    az = staged
    halt(az)
    before = state(az)
    canary = aks_id("aks-canary")
    hostile = [  # another team's (Data Sender on the request queue only), on the rollout's own session too
        ({"action": "rollout-resume", "profile": "staged"}, "rollout-staged", {}),
        ({"action": "rollout-abort", "profile": "staged"}, session_id_of(canary.lower()), {}),
        ({"action": "rollout-status", "profile": "staged"}, "rollout-staged", {}),
        ({"action": "bootstrap", "clusterResourceId": canary, "profile": "staged"}, "rollout-staged",
         {"argobootSource": "sweep", "argobootAction": "rollout-abort", "action": "rollout-abort"}),
        ({"action": "bootstrap", "clusterResourceId": canary, "rollout": "abort"}, "rollout-staged", {}),
        ({"action": "Rollout-Abort", "profile": "staged"}, "rollout-staged", {}),
    ]
    for n, (fields, session, properties) in enumerate(hostile):
        az.outside.send(OutgoingMessage(queue=QUEUE, body=json.dumps({"schemaVersion": 1, **fields}).encode(),
                                        message_id=f"team-{n}", session_id=session, reply_to=REPLIES,
                                        application_properties=properties))
    az.drain()
    answers = {r["requestId"]: r for r in replies(az) if r["requestId"].startswith("team-")}
    assert {k: (a["outcome"], (a["error"] or {}).get("code")) for k, a in answers.items()} == {
        "team-0": ("rejected", "OperatorActionNotAllowed"), "team-1": ("rejected", "OperatorActionNotAllowed"),
        "team-2": ("rejected", "OperatorActionNotAllowed"), "team-3": ("succeeded", None),
        "team-4": ("rejected", "UnknownField"), "team-5": ("rejected", "UnknownAction")}
    assert "POST /api/rollouts/PROFILE/resume|abort" in answers["team-0"]["error"]["message"]
    after = state(az)
    assert (after.status, after.reason, after.updated, after.failures) == \
        ("halted", before.reason, before.updated, before.failures)
    assert az.services.ledger.get_request("team-3") is not None  # the one request ran as a request, nothing more


def post(az: LocalAzure, path: str, key: Any = "master") -> tuple[int, Any]:
    response = az.http("POST", path, key=key)
    return response.status_code, json.loads(response.get_body() or b"null")


def test_the_admin_posts_take_the_master_key_only(staged: LocalAzure) -> None:
    az = staged
    halt(az)
    assert post(az, "/api/rollouts/staged/abort", key="function")[0] == 401  # the reads' key does not act
    assert post(az, "/api/rollouts/staged/abort", key=None)[0] == 401
    assert az.http("GET", "/api/rollouts/staged", key=None).status_code == 401
    assert state(az).status == "halted"
    code, resumed = post(az, "/api/rollouts/staged/resume")
    assert code == 200 and (resumed["status"], resumed["failures"], resumed["clusters"]["admitted"]) == \
        ("running", [], 1)
    assert resumed == json.loads(az.http("GET", "/api/rollouts/staged").get_body())  # as the GET shows it
    assert post(az, "/api/rollouts/staged/resume") == (200, resumed)  # a duplicate: done already, no write
    code, aborted = post(az, "/api/rollouts/staged/abort")
    assert code == 200 and aborted["status"] == "aborted" and aborted["reason"] == \
        "aborted by POST /api/rollouts/staged/abort"
    assert post(az, "/api/rollouts/nope/resume")[1]["error"]["code"] == "RolloutNotFound"
    assert post(az, "/api/rollouts/nope/resume")[0] == 404
    assert post(az, "/api/rollouts/staged/restart")[0] == 404
    assert post(az, "/api/rollouts/Bad%0A/abort")[0] == 400
    post(az, "/api/rollouts/staged/resume")
    for _ in range(6):  # the rollout runs to its end
        sweep(az)
        az.drain()
        if state(az).status == "completed":
            break
    assert state(az).status == "completed"
    code, refused = post(az, "/api/rollouts/staged/resume")
    assert code == 409 and refused["error"]["code"] == "RolloutCompleted"
    assert "new version of the profile" in refused["error"]["message"]
