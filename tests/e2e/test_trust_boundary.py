"""The request queue's trust boundary: one example per way an outside sender could pose as the service, rewrite a
cluster's history, hijack a wait, race the service, steer its replies or make it loop (issue 22's "Why").

Outside messages go through `az.outside`: a principal with Data Sender on the public request queue only, as
infra/modules/servicebus.bicep grants other services.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from localazure.bus import SessionRequired, Unauthorized
from localazure.stack import QUEUE, REPLIES, SESSION_REPLIES, SUBSCRIPTION, WORK, LocalAzure
from shared.azure.outbox import OutgoingMessage
from shared.bootstrap.cluster_ids import session_id_of
from tests.e2e.azure_state import assert_clean_bus, assert_nothing_created_twice
from tests.e2e.helpers import RG, aks_id, extension_puts, record, replies

CENTURY_AHEAD = datetime(2126, 1, 1, tzinfo=UTC).timestamp()


def post(az: LocalAzure, cluster_id: str, message_id: str, *, action: str = "bootstrap", session: str | None = None,
         properties: dict[str, Any] | None = None, reply_to: str | None = REPLIES,
         reply_to_session_id: str | None = None) -> None:
    body = {"schemaVersion": 1, "action": action, "clusterResourceId": cluster_id, "requestId": message_id}
    az.outside.send(OutgoingMessage(queue=QUEUE, body=json.dumps(body).encode(), message_id=message_id,
                                    session_id=session or session_id_of(cluster_id.lower()), reply_to=reply_to,
                                    reply_to_session_id=reply_to_session_id,
                                    application_properties=properties or {}))


def test_outside_senders_may_send_requests_only_and_the_app_may_not_reply_anywhere(local_azure: LocalAzure) -> None:
    az = local_azure
    az.bus.create_queue("team-b-orders")
    message = OutgoingMessage(queue=WORK, body=b"{}", message_id="forged", session_id="s")
    with pytest.raises(Unauthorized):
        az.outside.send(message)  # the work queue is the app's alone
    with pytest.raises(Unauthorized):
        az.services.outbox.send(OutgoingMessage(queue="team-b-orders", body=b"{}", message_id="deputy"))
    with pytest.raises(SessionRequired):
        az.services.outbox.send(OutgoingMessage(queue=SESSION_REPLIES, body=b"{}", message_id="no-session"))


def test_a_forged_source_does_not_make_a_request_an_event(local_azure: LocalAzure) -> None:
    """Was: `argobootSource: event` made the request honour the opt-out tag: skipped, and not the last request."""
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-off", tags={"argoboot": "off"})
    cluster_id = aks_id("aks-off")
    post(az, cluster_id, "m-forged-source", properties={"argobootSource": "event", "ArgoBootSource": "sweep"})
    az.drain()
    rec = record(az, cluster_id)
    assert (rec.phase, rec.last_request_id, extension_puts(az)) == ("succeeded", "m-forged-source", 1)
    [reply] = replies(az)
    assert reply["outcome"] == "succeeded"
    assert_clean_bus(az)


@pytest.mark.parametrize("moment", [CENTURY_AHEAD, 0.0, 1e15])
def test_a_forged_event_time_cannot_date_a_deletion(local_azure: LocalAzure, moment: float) -> None:
    """Was: an uninstall "from an event" dated 2126 left deletedAt in 2126 (the re-created cluster never got Argo CD),
    dated 1970 it was undone by the next sweep, and 1e15 made GET /api/clusters answer 500."""
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-time")
    cluster_id = aks_id("aks-time")
    post(az, cluster_id, "m-install")
    az.drain()
    post(az, cluster_id, "m-forged-time", action="uninstall",
         properties={"argobootSource": "event", "argobootEventTime": str(moment)})
    az.drain()
    rec = record(az, cluster_id)
    assert (rec.phase, rec.intent, rec.deleted_at) == ("uninstalled", "absent", None)  # an explicit uninstall
    assert az.http("GET", "/api/clusters").status_code == 200
    # A real delete event dated a century ahead is bounded to a few minutes past now.
    az.arm.delete_cluster(cluster_id)
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-time")
    az.deliver_event(dict(event, id="evt-del", eventType="Microsoft.Resources.ResourceDeleteSuccess",
                          eventTime="2126-01-01T00:00:00Z"))
    az.drain()
    assert record(az, cluster_id).deleted_at <= az.clock() + 300  # type: ignore[operator]
    az.clock.advance(600)  # the cluster is re-created later: its write event is newer than the bounded deletion
    az.deliver_event(dict(event, id="evt-recreated", eventTime=datetime.fromtimestamp(az.clock(), UTC).isoformat()))
    az.drain()
    assert record(az, cluster_id).phase == "succeeded" and az.arm.extension(cluster_id, "argocd") is not None


def test_a_forged_continuation_cannot_hijack_a_live_wait(local_azure: LocalAzure) -> None:
    """Was: `argobootContinuation: 999999999` dropped the real chain's next follow-up; the requester got no reply."""
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-wait")
    cluster_id = aks_id("aks-wait")
    post(az, cluster_id, "m-real")
    assert az.deliver_one() and az.deliver_one()  # forwarded; install started, a follow-up scheduled
    assert record(az, cluster_id).phase == "waiting"
    post(az, cluster_id, "m-hijack", properties={"argobootContinuation": 999999999, "argobootDueMs": 1})
    az.drain()
    assert record(az, cluster_id).phase == "succeeded"
    assert {r["requestId"]: r["outcome"] for r in replies(az)} == {"m-real": "succeeded", "m-hijack": "succeeded"}
    assert extension_puts(az) == 1
    assert_clean_bus(az)


def test_two_sessions_for_one_cluster_never_run_it_twice_at_once(local_azure: LocalAzure) -> None:
    """Was: two requests for one cluster on two sessions ran in parallel; each wrote the extension (the second 409)."""
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-race")
    cluster_id = aks_id("aks-race")
    post(az, cluster_id, "m-a", session="session-a")
    post(az, cluster_id, "m-b", session="session-b")
    az.drain(workers=4)
    assert extension_puts(az) == 1
    assert [r.status for r in az.arm.requests if r.status == 409] == []
    assert_nothing_created_twice(az)
    assert {r["requestId"]: r["outcome"] for r in replies(az)} == {"m-a": "succeeded", "m-b": "succeeded"}
    assert_clean_bus(az)


def test_a_reply_to_someone_elses_queue_is_refused_and_the_request_still_runs(local_azure: LocalAzure) -> None:
    """Was: ReplyTo naming any entity of the namespace got the service's result there (a confused deputy)."""
    az = local_azure
    az.bus.create_queue("team-b-orders")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-deputy")
    cluster_id = aks_id("aks-deputy")
    post(az, cluster_id, "m-deputy", reply_to="team-b-orders")
    az.drain()
    assert az.bus.messages("team-b-orders") == [] and replies(az) == []
    row = az.services.ledger.get_request("m-deputy")
    assert row is not None and row.status == "succeeded"
    assert row.reply_error is not None and "ALLOWED_REPLY_ENTITIES" in row.reply_error
    view = json.loads(az.http("GET", "/api/requests/m-deputy").get_body())
    assert "team-b-orders" in view["replyError"]
    assert az.bus.queue(QUEUE).completed == 1 and az.bus.dead_letters(QUEUE) == []
    assert_clean_bus(az)


def test_a_reply_carries_the_requesters_session(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-session")
    post(az, aks_id("aks-session"), "m-session", reply_to=SESSION_REPLIES, reply_to_session_id="caller-42")
    az.drain()
    [reply] = az.bus.messages(SESSION_REPLIES)
    assert (reply.session_id, reply.correlation_id, json.loads(reply.body)["outcome"]) == \
        ("caller-42", "m-session", "succeeded")


@pytest.mark.parametrize("trouble", ["session required", "disabled", "missing"])
def test_a_reply_that_cannot_be_delivered_never_loops_the_request(local_azure: LocalAzure, trouble: str) -> None:
    """Was: a session-enabled ReplyTo without ReplyToSessionId: the send was refused, the request abandoned nine
    times and dead-lettered although Argo CD was installed, and the sweep repeated it every hour."""
    az = local_azure
    reply_to = SESSION_REPLIES
    if trouble == "disabled":
        az.bus.queue(REPLIES).disabled = True
        reply_to = REPLIES
    elif trouble == "missing":
        az.reconfigure(reply_entities=("replies", "gone-queue"))
        reply_to = "gone-queue"
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-loop")
    cluster_id = aks_id("aks-loop")
    post(az, cluster_id, "m-loop", reply_to=reply_to)
    az.drain()
    assert record(az, cluster_id).phase == "succeeded" and extension_puts(az) == 1
    row = az.services.ledger.get_request("m-loop")
    assert row is not None and row.status == "succeeded" and row.reply_error is not None
    assert az.bus.queue(WORK).completed >= 1 and az.bus.queue(QUEUE).completed == 1
    assert_clean_bus(az)
    az.clock.advance(3600)
    assert az.services.sweeper.run().enqueued == {}  # converged: nothing for the sweep to repeat


def test_a_cluster_in_a_resource_group_with_unicode_letters_is_bootstrapped(local_azure: LocalAzure) -> None:
    """Was: `rg-café` (a name Azure accepts) was refused and its Event Grid event dropped with a DEBUG line only."""
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, "rg-café", "aks-1")
    assert az.deliver_event(event) is None
    az.drain()
    cluster_id = event["data"]["resourceUri"]
    assert record(az, cluster_id).phase == "succeeded" and az.arm.extension(cluster_id, "argocd") is not None


def test_resource_group_allowlists_compare_canonically_and_refuse_look_alikes(
        azurite: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings = {"ALLOWED_RESOURCE_GROUPS": f"{SUBSCRIPTION}/RG-CAFE\u0301"}  # decomposed, upper-case: one group
    with LocalAzure(azurite=azurite, provider_states={}, settings=settings) as az, caplog.at_level("DEBUG"):
        same = az.arm.add_aks_cluster(SUBSCRIPTION, "rg-café", "aks-1")
        # The same letters to the eye, with a Cyrillic "a": another group, never the allowed one.
        look_alike = az.arm.add_aks_cluster(SUBSCRIPTION, "rg-c\u0430f\u00e9", "aks-2")
        az.deliver_event(same)
        az.deliver_event(look_alike)
        az.deliver_event(dict(same, id="evt-bad", subject=same["subject"].replace("rg-café", "rg café"),
                              data={**same["data"], "resourceUri": same["subject"].replace("rg-café", "rg café")}))
        az.drain()
        assert record(az, same["data"]["resourceUri"]).phase == "succeeded"
        assert az.services.ledger.get_cluster(look_alike["data"]["resourceUri"].lower()) is None
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and r.name == "argoboot.events"]
    assert any("ResourceGroupNotAllowed" in r.getMessage() or "ALLOWED_RESOURCE_GROUPS" in r.getMessage()
               for r in warnings)
    assert any("evt-bad" in r.getMessage() and "not acted on" in r.getMessage() for r in warnings)
    counted = [r for r in caplog.records if getattr(r, "record_type", None) == "argoboot.run"
               and getattr(r, "source", None) == "event" and getattr(r, "outcome", None) == "rejected"]
    assert {getattr(r, "error_code", None) for r in counted} == {"ResourceGroupNotAllowed", "InvalidClusterResourceId"}


@pytest.mark.parametrize("key", ["configs.credentialTemplates.github.password", "configs.repositories.r.sshPrivateKey",
                                 "configs.credentialTemplates.app.githubAppPrivateKey", "configs.secret.githubSecret",
                                 "configs.clusterCredentials.hub.config.bearerToken", "externalRedis.password"])
def test_a_credential_is_never_a_plain_setting(platform_azure: LocalAzure, key: str) -> None:
    """Was: `configs.credentialTemplates.<name>.password` landed in configurationSettings, the ledger and the API."""
    az = platform_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-1")
    body = {"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": aks_id("aks-1"), "profile": "open",
            "overrides": {"helmValues": {key: "hunter2-not-a-real-secret"}}}
    az.outside.send(OutgoingMessage(queue=QUEUE, body=json.dumps(body).encode(), message_id="m-cred",
                                    session_id=session_id_of(aks_id("aks-1").lower()), reply_to=REPLIES))
    az.drain()
    [dead] = az.bus.dead_letters(QUEUE)
    assert (dead.reason, dead.envelope.delivery_count) == ("InvalidOverride", 1)
    assert "Key Vault" in dead.description and "configurationProtectedSettings" in dead.description
    assert az.arm.requests == [] and az.services.ledger.get_cluster(aks_id("aks-1").lower()) is None
    assert "hunter2" not in az.http("GET", "/api/requests/m-cred").get_body().decode()


def test_an_explicit_request_keeps_its_authority_through_its_follow_ups(local_azure: LocalAzure) -> None:
    """Was: an explicit bootstrap of a cluster tagged out installed Argo CD, but its follow-ups honoured the tag: the
    reply and the ledger said `skipped` for an installed cluster."""
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-off", tags={"argoboot": "off"})
    cluster_id = aks_id("aks-off")
    post(az, cluster_id, "m-explicit")
    az.drain()
    rec = record(az, cluster_id)
    assert rec.continuation > 0  # the install was waited for by follow-ups
    assert rec.phase == "succeeded" and [r["outcome"] for r in replies(az)] == ["succeeded"]
    assert not any("skipped" in h["step"] for h in rec.history)
    # An event for the same cluster still honours the tag.
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-off-2", tags={"argoboot": "off"})
    az.deliver_event(event)
    az.drain()
    assert record(az, event["data"]["resourceUri"]).phase == "skipped"
