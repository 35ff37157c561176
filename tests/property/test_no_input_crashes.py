"""Property-based: whatever arrives, the handlers answer with a clear error or act; they never raise."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localazure.stack import QUEUE, REPLIES, SUBSCRIPTION, LocalAzure
from tests.e2e.helpers import aks_id

FIELDS = ["schemaVersion", "action", "clusterResourceId", "profile", "requestId", "extra"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=6)
plausible = st.fixed_dictionaries({}, optional={
    "schemaVersion": st.one_of(st.just(1), json_values),
    "action": st.one_of(st.just("bootstrap"), json_values),
    "clusterResourceId": st.one_of(st.just(aks_id("missing")), st.text(max_size=120), json_values),
    "profile": st.one_of(st.just("default"), json_values),
    "requestId": st.one_of(st.just("r-1"), json_values),
    "extra": json_values,
})
bodies = st.one_of(st.binary(max_size=200), plausible.map(lambda d: json.dumps(d).encode()),
                   json_values.map(lambda v: json.dumps(v).encode()))
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SLOW
@given(body=bodies)
def test_any_request_body_is_processed_or_dead_lettered_with_a_reason(local_azure: LocalAzure, body: bytes) -> None:
    az = local_azure
    before = len(az.bus.dead_letters(QUEUE)), az.bus.queue(QUEUE).completed
    az.bus.send(_message(body))
    az.drain()
    assert az.bus.errors == []
    dead = az.bus.dead_letters(QUEUE)[before[0]:]
    completed = az.bus.queue(QUEUE).completed - before[1]
    assert len(dead) + (1 if completed else 0) >= 1
    for letter in dead:
        assert letter.reason and letter.description and letter.reason != "MaxDeliveryCountExceeded"


_events = st.fixed_dictionaries({
    "id": st.one_of(st.text(max_size=20), st.integers(), st.none()),
    "eventType": st.one_of(st.sampled_from(["Microsoft.Resources.ResourceWriteSuccess",
                                            "Microsoft.Resources.ResourceDeleteSuccess"]), json_values),
    "subject": st.one_of(st.just(aks_id("aks-x")), st.text(max_size=80), json_values),
    "data": st.one_of(json_values, st.fixed_dictionaries({"resourceUri": st.one_of(
        st.just(aks_id("aks-y")), st.text(max_size=80), json_values)})),
    "topic": st.one_of(st.just(f"/subscriptions/{SUBSCRIPTION}"), json_values),
    "dataVersion": st.just("2"),
})


@SLOW
@given(event=_events, cloud=st.booleans())
def test_any_event_is_enqueued_recorded_or_ignored(local_azure: LocalAzure, event: dict[str, Any],
                                                   cloud: bool) -> None:
    payload = event if not cloud else {"specversion": "1.0", "id": event["id"], "source": event["topic"],
                                       "subject": event["subject"], "type": event["eventType"], "data": event["data"]}
    assert local_azure.deliver_event(payload) is None


def _message(body: bytes) -> Any:
    from shared.azure.outbox import OutgoingMessage

    _message.counter = getattr(_message, "counter", 0) + 1  # type: ignore[attr-defined]
    return OutgoingMessage(queue=QUEUE, body=body, message_id=f"fuzz-{_message.counter}",  # type: ignore[attr-defined]
                           session_id="fuzz", reply_to=REPLIES)
