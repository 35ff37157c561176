"""The published message schemas (`schemas/`) as a check on the local Service Bus traffic.

`LocalAzure` plugs `MessageContract` into its bus, so every test, the demo and the benchmarks check
every reply the service sends and every request it accepts against the JSON Schemas other teams
code to; a violation fails the run when the local Azure closes. Requests the service refuses are
not checked: the tests send broken ones on purpose.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from localazure.bus import Settled
from shared.azure.outbox import OutgoingMessage

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
REQUEST_SCHEMA = "install-request.v1.schema.json"
RESULT_SCHEMA = "result.v1.schema.json"


class ContractViolation(AssertionError):
    """A message the service read or wrote does not match its published schema."""


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """`pattern` as JSON Schema defines it (ECMA-262): `$` ends the string. Python's `$` also matches before
    a final newline, which would let "abc\\n" through where other teams' validators refuse it."""
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not re.search(re.sub(r"\$$", r"\\Z", pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def schema_validator(name: str) -> Any:
    """A draft 2020-12 validator for one schema file, with formats checked and ECMA-262 `pattern` semantics."""
    from jsonschema import Draft202012Validator, validators

    schema = json.loads((SCHEMAS / name).read_text())
    Draft202012Validator.check_schema(schema)
    ecma = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})
    return ecma(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def violations(name: str, body: bytes) -> list[str]:
    """What is wrong with a message body under one schema (empty: nothing)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in schema_validator(name).iter_errors(data)]


def _ascii_group(body: bytes) -> bytes:
    """The body with a resource group of Unicode letters and digits (which Azure and the service accept) as `rg`: the
    schema's pattern publishes the ASCII subset of the grammar (see shared.bootstrap.cluster_ids)."""
    from shared.bootstrap.cluster_ids import is_resource_group

    try:
        data = json.loads(body)
        segments = data["clusterResourceId"].split("/")
    except (ValueError, KeyError, TypeError, AttributeError):
        return body
    if len(segments) > 4 and not segments[4].isascii() and is_resource_group(segments[4]):
        data["clusterResourceId"] = "/".join([*segments[:4], "rg", *segments[5:]])
        return json.dumps(data).encode()
    return body


class MessageContract:
    """A bus observer: replies (anything sent to a queue other than the request and work queues) and accepted
    requests."""

    def __init__(self, request_queues: tuple[str, ...]) -> None:
        self.request_queues = {q.lower() for q in request_queues}
        self.public_queue = request_queues[0].lower()  # where other teams send: the schema is their contract
        self.violations: list[str] = []

    def sent(self, message: OutgoingMessage) -> None:
        if message.queue.lower() in self.request_queues:
            return  # checked once the service has accepted it: tests send refused ones on purpose
        problems = violations(RESULT_SCHEMA, message.body)
        if not message.correlation_id:
            problems.append("a reply without CorrelationId: the sender cannot match it to its request")
        self._note(f"reply {message.message_id} to {message.queue}", problems)

    def settled(self, queue: str, message: OutgoingMessage, how: Settled) -> None:
        if queue.lower() == self.public_queue and how == "completed":  # the work queue's are the service's own
            self._note(f"accepted request {message.message_id}", violations(REQUEST_SCHEMA, _ascii_group(message.body)))

    def _note(self, what: str, problems: list[str]) -> None:
        self.violations += [f"{what}: {p}" for p in problems]

    def assert_clean(self) -> None:
        if self.violations:
            raise ContractViolation("messages that break schemas/:\n  " + "\n  ".join(self.violations))
