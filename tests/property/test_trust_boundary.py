"""The trust boundary's invariants under any outside message: any `argoboot*` properties, any session id, any ReplyTo
and ReplyToSessionId, two at once for one cluster (tagged out or not).

No forged authority (a request is a request: it runs with its own authority, never an event's or a follow-up's, and no
time it carries reaches the ledger); nothing written twice; no reply outside ALLOWED_REPLY_ENTITIES, and a reply to a
session carries it; every message settled once, none dead-lettered, no handler error.
"""
from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, note, settings
from hypothesis import strategies as st

from localazure.stack import QUEUE, REPLIES, SESSION_REPLIES, SUBSCRIPTION, WORK, LocalAzure
from shared.azure.outbox import OutgoingMessage
from shared.bootstrap.cluster_ids import session_id_of
from shared.pipeline.intent import TIME_FUTURE_LIMIT
from tests.e2e.azure_state import assert_nothing_created_twice
from tests.e2e.helpers import RG, aks_id
from tests.property.test_hostile_input import hostile_text

_ids = itertools.count()
OTHER_TEAM = "team-b-orders"  # an entity of the namespace nobody allowed replies to
ALLOWED = (REPLIES, SESSION_REPLIES)

own_names = st.sampled_from(["argobootSource", "argobootEventTime", "argobootContinuation", "argobootDueMs",
                             "argobootOrigin", "argobootSenderMessageId", "argobootReplyRefused", "ARGOBOOTSOURCE"])
own_values = st.one_of(st.sampled_from(["event", "sweep", "request", "continuation", "0", "999999999", "1e15",
                                        "4922899200", "-1", "nan"]),
                       st.integers(-(2**40), 2**40), st.floats(), hostile_text)
properties = st.dictionaries(st.one_of(own_names, hostile_text), own_values, max_size=4)
reply_tos = st.one_of(st.none(), st.sampled_from([REPLIES, SESSION_REPLIES, QUEUE, WORK, OTHER_TEAM]), hostile_text)
message = st.fixed_dictionaries({
    "action": st.sampled_from(["bootstrap", "bootstrap", "update", "uninstall"]),
    "session": st.one_of(st.none(), st.sampled_from(["canonical", "other-cluster"]), hostile_text),
    "properties": properties, "reply_to": reply_tos,
    "reply_to_session_id": st.one_of(st.none(), st.sampled_from(["caller-1", ""]), hostile_text),
})


def _send(az: LocalAzure, cluster_id: str, n: int, drawn: dict[str, Any]) -> str:
    message_id = f"tb-{next(_ids)}-{n}"
    session = {"canonical": session_id_of(cluster_id.lower()), "other-cluster": session_id_of(aks_id("x").lower()),
               None: "any-session"}.get(drawn["session"], drawn["session"])
    body = {"schemaVersion": 1, "action": drawn["action"], "clusterResourceId": cluster_id, "requestId": message_id}
    az.outside.send(OutgoingMessage(
        queue=QUEUE, body=json.dumps(body).encode(), message_id=message_id, session_id=session[:128] or "s",
        reply_to=drawn["reply_to"], reply_to_session_id=(drawn["reply_to_session_id"] or None) and
        drawn["reply_to_session_id"][:128], application_properties=drawn["properties"]))
    return message_id


@settings(max_examples=max(settings.default.max_examples // 2, 10), deadline=None)
@given(first=message, second=message, opted_out=st.booleans())
def test_outside_messages_carry_no_authority_and_cannot_race_or_steer_the_service(
        local_azure: LocalAzure, first: dict[str, Any], second: dict[str, Any], opted_out: bool) -> None:
    az = local_azure
    if OTHER_TEAM not in {q.name for q in az.bus._queues.values()}:
        az.bus.create_queue(OTHER_TEAM)
    az.clock.advance(az.bus.duplicate_window + 1)
    name = f"aks-tb-{next(_ids)}"
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, name, tags={"argoboot": "off"} if opted_out else None)
    cluster_id = aks_id(name)
    arm_before, start = len(az.arm.requests), az.clock()
    sent = [_send(az, cluster_id, n, drawn) for n, drawn in enumerate((first, second))]
    az.drain(workers=4)  # both at once: different sessions, if the senders chose so

    # Every message settled once, none dead-lettered, no handler error.
    assert az.bus.errors == [] and az.bus.settlement_violations == []
    assert az.bus.dead_letters(QUEUE) == [] and az.bus.dead_letters(WORK) == []
    # Nothing written twice, nothing refused for a concurrent write.
    assert_nothing_created_twice(az)
    assert [r for r in az.arm.requests[arm_before:] if r.status == 409] == []
    # No forged authority: each was run as the request it is (never skipped for the tag, never an event's deletion
    # time), and the cluster's last request is one of them.
    record = az.services.ledger.get_cluster(cluster_id.lower())
    assert record is not None
    note(f"record: {record.phase} {record.intent} {record.deleted_at} {record.last_request_id}")
    assert record.phase in ("succeeded", "uninstalled") and record.last_request_id in sent
    assert record.deleted_at is None or start - 1 <= record.deleted_at <= az.clock() + TIME_FUTURE_LIMIT
    assert az.http("GET", "/api/clusters").status_code == 200
    # Replies: only to the allowed entities, once per request, with the requester's session where it gave one.
    assert az.bus.messages(OTHER_TEAM) == []
    for message_id, drawn in zip(sent, (first, second), strict=True):
        row = az.services.ledger.get_request(message_id)
        assert row is not None and row.status in ("succeeded", "uninstalled"), row
        got = [m for entity in ALLOWED for m in az.bus.messages(entity) if m.correlation_id == message_id]
        wanted = drawn["reply_to"] in ALLOWED and (drawn["reply_to"] != SESSION_REPLIES
                                                   or bool(drawn["reply_to_session_id"]))
        assert len(got) == (1 if wanted else 0), (drawn, got, row)
        assert (row.reply_error is None) == (wanted or not drawn["reply_to"]), row
        for reply in got:
            assert reply.queue == drawn["reply_to"]
            assert reply.session_id == ((drawn["reply_to_session_id"] or None) and drawn["reply_to_session_id"][:128])
