"""The reply schema matches what the service writes, and the local bus catches a message that breaks a schema."""
from __future__ import annotations

import json
from typing import Any

import pytest

from localazure.bus import LocalBus
from localazure.clock import VirtualClock
from localazure.contract import RESULT_SCHEMA, ContractViolation, MessageContract, violations
from shared.azure.outbox import OutgoingMessage
from shared.pipeline.replies import result_body

AKS = ("/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg/providers/"
       "Microsoft.ContainerService/managedClusters/aks-1")


@pytest.mark.parametrize("body", [
    result_body("r-1", AKS, "bootstrap", "succeeded", ["extension argocd Succeeded"], None, 1.7e9),
    result_body("r-2", AKS, "bootstrap", "failed", [], {"code": "WaitTimedOut", "message": "look"}, 1.7e9),
    result_body("m 3?", None, None, "rejected", [], {"code": "InvalidJson", "message": None}, 1.7e9),
])
def test_replies_the_service_writes_match_the_result_schema(body: dict[str, Any]) -> None:
    assert violations(RESULT_SCHEMA, json.dumps(body).encode()) == []


@pytest.mark.parametrize(("change", "fragment"), [
    ({"outcome": "waiting"}, "outcome"),
    ({"error": None, "outcome": "failed"}, "error"),
    ({"error": {"code": "X", "message": "m"}}, "error"),  # succeeded with an error
    ({"completedAt": "yesterday"}, "completedAt"),
    ({"extra": 1}, "extra"),
])
def test_result_schema_refuses_inconsistent_replies(change: dict[str, Any], fragment: str) -> None:
    body = result_body("r-1", AKS, "bootstrap", "succeeded", [], None, 1.7e9) | change
    problems = violations(RESULT_SCHEMA, json.dumps(body).encode())
    assert problems and any(fragment in p for p in problems), problems


def test_the_bus_flags_bad_replies_and_accepted_bad_requests_but_not_refused_ones() -> None:
    clock = VirtualClock(start=1000.0)
    contract = MessageContract(("requests",))
    bus = LocalBus(clock, advance=clock.advance_to, observer=contract)
    bus.create_queue("replies")
    bus.create_queue("requests")
    good = json.dumps(result_body("r-1", AKS, "bootstrap", "succeeded", [], None, 1000.0)).encode()
    bus.send(OutgoingMessage(queue="replies", body=good, message_id="ok", correlation_id="m-1"))
    contract.assert_clean()

    bus.send(OutgoingMessage(queue="replies", body=good, message_id="no-correlation"))
    bus.send(OutgoingMessage(queue="requests", body=b'{"schemaVersion": 7}', message_id="refused"))
    bus.send(OutgoingMessage(queue="requests", body=b'{"schemaVersion": 7}', message_id="accepted"))

    def refuse_one(msg: Any) -> None:
        if msg.message_id == "refused":
            bus.settler().dead_letter(msg, "UnsupportedSchemaVersion", "")
        else:
            bus.settler().complete(msg)

    bus.run_until_idle("requests", refuse_one)
    with pytest.raises(ContractViolation) as caught:
        contract.assert_clean()
    assert {v.split(":")[0] for v in contract.violations} == {"reply no-correlation to replies",
                                                              "accepted request accepted"}
    assert "CorrelationId" in str(caught.value) and "refused" not in str(caught.value)
