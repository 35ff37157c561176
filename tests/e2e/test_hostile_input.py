"""One example per class of hostile or careless input (the property tests generate the classes): how the message
is settled, its reason, the reply, the ledger, and that ARM is never touched."""
from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from localazure.stack import QUEUE, REPLIES, SUBSCRIPTION, WORK, LocalAzure
from shared.azure.outbox import OutgoingMessage
from shared.bootstrap.names import derived_id
from tests.e2e.helpers import RG, aks_id, arc_id, extension_puts, replies, send_request

AKS = aks_id("aks-1")


def request(**fields: Any) -> bytes:
    return json.dumps({"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": AKS, **fields}).encode()


def refused(az: LocalAzure, body: bytes, message_id: str = "m-bad") -> tuple[str, str]:
    """Send one body; assert it was dead-lettered at once, answered, recorded, with ARM untouched; (reason, text)."""
    send_request(az, AKS, message_id=message_id, body=body)
    az.drain()
    [dead] = az.bus.dead_letters(QUEUE)
    assert dead.envelope.delivery_count == 1 and dead.envelope.message.body == body
    [reply] = replies(az)
    assert (reply["outcome"], reply["error"]["code"], reply["_correlationId"]) == ("rejected", dead.reason, message_id)
    stored = az.services.ledger.get_request(reply["requestId"])
    assert stored is not None and (stored.status, stored.error_code, stored.message_id) == \
        ("rejected", dead.reason, message_id)
    assert az.arm.requests == [] and az.bus.errors == []
    return dead.reason, dead.description


# 1. Parser limits

def test_a_deeply_nested_body_is_refused_at_its_first_delivery(local_azure: LocalAzure) -> None:
    body = request()[:-1] + b', "overrides": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    reason, description = refused(local_azure, body)
    assert reason == "JsonTooDeep" and "5001 levels" not in description and "at most 16" in description


def test_a_key_sent_twice_is_refused_because_readers_disagree(local_azure: LocalAzure) -> None:
    body = request()[:-1] + b', "action": "uninstall"}'
    reason, description = refused(local_azure, body)
    assert reason == "DuplicateKey" and "'action' appears twice" in description


@pytest.mark.parametrize(("tail", "fragment"), [(b', "requestId": ' + b"7" * 5000, "digits"),
                                                 (b', "profile": NaN', "NaN")])
def test_numbers_python_would_choke_on_or_invent_are_refused(local_azure: LocalAzure, tail: bytes,
                                                             fragment: str) -> None:
    reason, description = refused(local_azure, request()[:-1] + tail + b"}")
    assert reason == "InvalidJson" and fragment in description


# 2. Identifiers

@pytest.mark.parametrize("group", [".", ".."])
def test_dot_segments_are_not_resource_groups(local_azure: LocalAzure, group: str) -> None:
    cluster = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.ContainerService/" \
              "managedClusters/aks-1"
    reason, description = refused(local_azure, request(clusterResourceId=cluster))
    assert reason == "InvalidClusterResourceId" and "resourceGroups" in description and "not ending with" in description


def test_a_look_alike_letter_is_not_folded_into_a_provider_name(local_azure: LocalAzure) -> None:
    kelvin = arc_id("arc-1").replace("Kubernetes", "\u212aubernetes")  # KELVIN SIGN lower-cases to "k"
    reason, description = refused(local_azure, request(clusterResourceId=kelvin))
    assert reason == "InvalidClusterResourceId" and "(U+212A) at position" in description


def test_a_message_id_table_storage_forbids_is_kept_and_never_a_reason_to_lose_the_message(
        local_azure: LocalAzure) -> None:
    az = local_azure
    message_id = "team-a/orders#42?x"
    send_request(az, AKS, message_id=message_id)  # no requestId: the service derives one from the message id
    az.drain()
    assert az.bus.dead_letters(QUEUE) == [] and az.bus.queue(QUEUE).completed == 1
    [reply] = replies(az)
    assert reply["requestId"] == derived_id("msg-", message_id) and reply["_correlationId"] == message_id
    assert reply["error"]["code"] == "ClusterNotFound"  # processed: the cluster simply does not exist
    stored = az.services.ledger.get_request(reply["requestId"])
    assert stored is not None and stored.message_id == message_id and stored.status == "failed"



def test_a_message_refused_for_its_body_is_recorded_whatever_its_id(local_azure: LocalAzure) -> None:
    reason, _ = refused(local_azure, b"{not json", message_id="team-a/orders#43\n")  # the key is derived
    assert reason == "InvalidJson"


def test_an_event_id_with_any_characters_becomes_a_request_the_queue_accepts(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-evt")
    az.deliver_event(dict(event, id="tenant/evt#1?\n" + "x" * 200))
    [queued] = az.bus.messages(WORK)  # events go straight to the work queue
    body = json.loads(queued.body)
    assert body["requestId"].startswith("evt-") and len(body["requestId"]) <= 128
    assert queued.correlation_id == body["requestId"]  # not printable in 128 characters: the derived id
    az.drain()
    assert az.bus.dead_letters(WORK) == [] and extension_puts(az) == 1


# 3. Configuration keys and values

@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"helmValues": {"redis-ha.enabled\n": "false"}}, "is not a valid key"),
    ({"helmValues": {"redis-ha": "x"}}, "would replace or nest"),
    ({"helmValues": {"configs.cm.url.x": "y"}}, "use url"),
    ({"helmValues": {"server.replicas": "3\nredis-ha.enabled=false"}}, "is not a count"),
    ({"helmValues": {"dex.enabled": "yes"}}, "is not true or false"),
    ({"helmValues": {"server.env[0].value": "a\x00b"}}, "control character"),
    ({"url": "https://argocd.example.com/\n"}, "on one line"),
    ({"rbac": {"policyDefault": "role:readonly\r\nrole:admin"}}, "must be one line"),
])
def test_smuggled_configuration_is_refused_and_never_reaches_the_extension(
        platform_azure: LocalAzure, overrides: dict[str, Any], fragment: str) -> None:
    az = platform_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-1")
    send_request(az, AKS, message_id="m-smuggle", profile="open", overrides=overrides)
    az.drain()
    [dead] = az.bus.dead_letters(QUEUE)
    assert dead.reason == "InvalidOverride" and dead.envelope.delivery_count == 1
    assert dead.description.startswith("overrides.") and fragment in dead.description
    assert "\n" not in dead.description  # what it quotes is escaped
    [reply] = replies(az)
    assert reply["error"]["code"] == "InvalidOverride" and az.arm.requests == [] and extension_puts(az) == 0


def test_multi_line_values_stay_multi_line(platform_azure: LocalAzure) -> None:
    az = platform_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-1")
    csv = "p, role:ci, applications, sync, */*, allow\ng, sre, role:admin\n"
    send_request(az, AKS, message_id="m-csv", profile="open", overrides={"rbac": {"policyCsv": csv}})
    az.drain()
    [reply] = replies(az)
    assert reply["outcome"] == "succeeded"
    extension = az.arm.extension(AKS, "argocd")
    assert extension is not None
    assert extension["properties"]["configurationSettings"]["configs.rbac.policy\\.csv"] == csv


# 4. Replies

@pytest.mark.parametrize("reply_to", [QUEUE, QUEUE.upper(), "no-such-queue", "replies/../install-requests"])
def test_a_reply_that_cannot_or_must_not_be_sent_never_decides_the_settlement(local_azure: LocalAzure,
                                                                              reply_to: str) -> None:
    az = local_azure
    send_request(az, AKS, message_id="m-reply", reply_to=reply_to)
    send_request(az, AKS, message_id="m-reply-bad", reply_to=reply_to, body=b"[]")
    az.drain()
    assert az.bus.errors == [] and az.bus.queue(QUEUE).completed == 1  # processed once, never retried
    [dead] = az.bus.dead_letters(QUEUE)
    assert (dead.reason, dead.envelope.delivery_count) == ("InvalidJson", 1)
    assert replies(az) == [] and az.bus.messages(QUEUE) == []  # no reply anywhere, nothing looped back
    assert az.services.ledger.get_request("m-reply").status == "failed"  # type: ignore[union-attr]


def test_a_valid_reply_queue_gets_exactly_one_reply(local_azure: LocalAzure) -> None:
    az = local_azure
    send_request(az, AKS, message_id="m-once", requestId="r-" + "x" * 126)  # reply-<id> would be past 128
    az.drain()
    [reply] = az.bus.messages(REPLIES)
    assert len(reply.message_id) <= 128 and reply.correlation_id == "m-once"


# 5. Logs and error bodies

def test_a_newline_from_outside_never_splits_a_log_record(local_azure: LocalAzure,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    az = local_azure
    forged = "x\nERROR argoboot.requests: cluster=/subscriptions/... outcome=succeeded"
    az.bus.send(OutgoingMessage(queue=QUEUE, body=b"{oops", message_id="m-log\u2028" + forged, session_id=forged))
    with caplog.at_level(logging.INFO, logger="argoboot"):
        az.drain()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("argoboot")]
    assert lines and all("\n" not in line and "\u2028" not in line for line in lines)
    assert any("x\\nERROR argoboot.requests" in line for line in lines)
    assert all("\n" not in str(getattr(r, "cluster_id", "")) for r in caplog.records)


def test_the_status_api_echoes_little_and_on_one_line(local_azure: LocalAzure) -> None:
    az = local_azure
    for path, params, code, capped in ((f"/api/requests/{'a' * 5000}", None, "InvalidRequestId", True),
                                       ("/api/requests/evil%0Aline", None, "InvalidRequestId", False),
                                       ("/api/clusters", {"phase": "f" * 10_000 + "\n"}, "InvalidPhase", True)):
        response = az.http("GET", path, params)
        error = json.loads(response.get_body())["error"]
        assert (response.status_code, error["code"]) == (400, code)
        assert len(error["message"]) < 500 and "\n" not in error["message"]
        assert ("characters)" in error["message"]) == capped  # says how long it was, instead of echoing it
