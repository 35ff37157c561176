"""Property-based, for the lifecycle's inputs: actions update and uninstall, overrides shaped like a profile,
event payloads with event times, delete events. Whatever arrives, nothing raises out of a handler; a refused
request is dead-lettered with a reason and a description and answered with that error; everything else is
processed to an outcome. Every reply is checked against schemas/result.v1 when the local Azure closes.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import event as label
from hypothesis import strategies as st

from localazure.azurite import Azurite
from localazure.stack import QUEUE, REPLIES, SUBSCRIPTION, LocalAzure
from shared.azure.outbox import OutgoingMessage
from shared.bootstrap.cluster_ids import session_id_of
from tests.e2e.azure_state import TERMINAL, copy_profiles, platform_stack, quick
from tests.e2e.helpers import RG, aks_id

CLUSTER = aks_id("aks-prop")
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=6)
# Overrides shaped like a profile: its keys (and a few that are not), plausible and implausible values.
override_values = {
    "ha": st.one_of(st.sampled_from(["auto", "on", "off"]), json_values),
    "url": st.one_of(st.just("https://argocd.team.example/"), json_values),
    "rbac": st.one_of(st.fixed_dictionaries({}, optional={
        "policyCsv": st.one_of(st.just("g, team-sre, role:org-admin\n"), st.text(max_size=40), json_values),
        "policyDefault": st.one_of(st.just("role:readonly"), json_values)}), json_values),
    "helmValues": st.one_of(st.dictionaries(
        st.one_of(st.sampled_from(["server.replicas", "configs.cm.url", "redis-ha.enabled", "a\\.b"]),
                  st.text(max_size=12)),
        st.one_of(st.integers(-1, 5), json_values), max_size=3), json_values),
    "workloadIdentity": st.one_of(st.fixed_dictionaries({}, optional={
        "enabled": st.booleans(), "serviceAccounts": st.lists(st.text(max_size=12), max_size=3)}), json_values),
    "sso": json_values,
    "containerRegistries": st.one_of(st.lists(st.text(max_size=30), max_size=2), json_values),
    "applicationNamespaces": st.one_of(st.lists(st.sampled_from(["argocd", "team-*", "BAD NS"]), max_size=3),
                                       json_values),
    "overridable": json_values,
    "description": json_values,
    "notAProfileKey": json_values,
}
overrides = st.one_of(st.none(), st.fixed_dictionaries({}, optional=override_values), json_values)
cluster_ids = st.one_of(st.sampled_from([CLUSTER, CLUSTER.upper(), CLUSTER.lower() + "/", aks_id("aks-absent"),
                                         aks_id("aks-prop", "0d9e4b7a-53c1-4f0e-8e2b-7c6a5d4f3e21")]),
                        st.text(max_size=60), json_values)
fuzzed_requests = st.fixed_dictionaries(
    {"schemaVersion": st.one_of(st.just(1), json_values),
     "action": st.one_of(st.sampled_from(["bootstrap", "update", "uninstall"]), json_values),
     "clusterResourceId": cluster_ids},
    optional={"profile": st.one_of(st.sampled_from(["platform", "default", "workload-identity", "no-such"]),
                                   json_values),
              "overrides": overrides,
              "requestId": st.one_of(st.text(alphabet="abc-1", min_size=1, max_size=10), json_values)})
# Mostly well-formed envelopes, so that the examples reach the profile, the overrides and the reconciler.
plausible_requests = st.fixed_dictionaries(
    {"schemaVersion": st.just(1), "action": st.sampled_from(["bootstrap", "update", "uninstall"]),
     "clusterResourceId": st.sampled_from([CLUSTER, CLUSTER.upper(), aks_id("aks-absent")])},
    optional={"profile": st.one_of(st.sampled_from(["platform", "default", "workload-identity", "no-such"]),
                                   st.none()),
              "overrides": overrides})
requests = st.one_of(plausible_requests, plausible_requests, fuzzed_requests)
times = st.one_of(st.none(), st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                                          timezones=st.just(UTC)).map(lambda d: d.isoformat()),
                  st.sampled_from(["2026-02-30T00:00:00Z", "2026-11-26T05:40:22.6713001Z", "yesterday", ""]),
                  st.text(max_size=30))  # Event Grid's eventTime / time is a string
event_types = st.sampled_from(["Microsoft.Resources.ResourceWriteSuccess", "Microsoft.Resources.ResourceDeleteSuccess"])
fuzzed_events = st.fixed_dictionaries({
    "id": st.one_of(st.text(min_size=1, max_size=20), json_values),
    "eventType": st.one_of(event_types, json_values),
    "subject": cluster_ids,
    "data": st.one_of(st.fixed_dictionaries({"resourceUri": cluster_ids}), json_values),
    "eventTime": times,
    "topic": st.just(f"/subscriptions/{SUBSCRIPTION}"),
    "dataVersion": st.just("2"),
})
plausible_events = st.fixed_dictionaries({
    "id": st.text(alphabet="0123456789abcdef-", min_size=1, max_size=36),
    "eventType": event_types,
    "subject": st.sampled_from([CLUSTER, CLUSTER.lower()]),
    "data": st.fixed_dictionaries({"resourceUri": st.sampled_from([CLUSTER, CLUSTER.upper(),
                                                                   CLUSTER + "/agentPools/np1"])}),
    "eventTime": times,
    "topic": st.just(f"/subscriptions/{SUBSCRIPTION}"),
    "dataVersion": st.just("2"),
})
events = st.one_of(plausible_events, plausible_events, fuzzed_events)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_ids = count(1)


@pytest.fixture
def stack(azurite: Azurite, tmp_path: Path) -> Iterator[LocalAzure]:
    with platform_stack(azurite, copy_profiles(tmp_path)) as az:
        quick(az)
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-prop")
        yield az


def _settled(az: LocalAzure, message_id: str) -> dict[str, Any] | None:
    """The dead letter of a message, as {reason, description}, or None if it was not dead-lettered."""
    return next(({"reason": d.reason, "description": d.description} for d in az.bus.dead_letters(QUEUE)
                 if d.envelope.message.message_id == message_id), None)


@SETTINGS
@given(body=requests)
def test_any_lifecycle_request_is_processed_or_refused_clearly(stack: LocalAzure, body: dict[str, Any]) -> None:
    az = stack
    message_id = f"prop-{next(_ids)}"
    az.bus.send(OutgoingMessage(queue=QUEUE, body=json.dumps(body).encode(), message_id=message_id,
                                session_id=session_id_of(CLUSTER.lower()), reply_to=REPLIES))
    az.drain()
    assert az.bus.errors == []  # never an unhandled exception
    dead = _settled(az, message_id)
    answers = [json.loads(m.body) for m in az.bus.messages(REPLIES) if m.correlation_id == message_id]
    assert len(answers) <= 1
    if dead is not None:
        assert dead["reason"] != "MaxDeliveryCountExceeded" and dead["reason"] and dead["description"]
        [answer] = answers  # refused, and told why
        assert answer["outcome"] == "rejected" and answer["error"]["code"] == dead["reason"]
        assert answer["error"]["message"] == dead["description"]
    label(f"outcome: {dead['reason'] if dead else answers[0]['outcome'] if answers else 'answered before'}")
    for answer in answers:
        assert answer["outcome"] in TERMINAL
        assert (answer["error"] is None) == (answer["outcome"] not in ("failed", "rejected"))
    record = az.services.ledger.get_cluster(CLUSTER.lower())
    assert record is None or (record.phase in TERMINAL | {"pending"} and record.waiters == ())


@SETTINGS
@given(event=events, cloud=st.booleans())
def test_any_event_with_any_time_is_enqueued_or_ignored_and_then_processed(stack: LocalAzure, event: dict[str, Any],
                                                                           cloud: bool) -> None:
    az = stack
    payload = event if not cloud else {"specversion": "1.0", "id": event["id"], "source": event["topic"],
                                       "subject": event["subject"], "type": event["eventType"],
                                       "time": event["eventTime"], "data": event["data"]}
    try:  # the Functions binding's own decoder may refuse the envelope before any of the app's code runs
        EventGridEventInConverter.decode(Datum(json.dumps(payload), "json"), trigger_metadata={})
    except (ValueError, TypeError):
        assume(False)
    assert az.deliver_event(payload) is None
    label(f"enqueued: {len(az.bus.messages(QUEUE))}")
    az.drain()
    assert az.bus.errors == []
    assert [d for d in az.bus.dead_letters(QUEUE) if d.reason == "MaxDeliveryCountExceeded"] == []
    record = az.services.ledger.get_cluster(CLUSTER.lower())
    assert record is None or record.phase in TERMINAL | {"pending"}
