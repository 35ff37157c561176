"""Replies to requests: only to the entities the operator allows, with the requester's session, never a retry.

`ReplyTo` is an address a sender writes, not a right: the service's identity may send to its work queue and to
the reply entities in ALLOWED_REPLY_ENTITIES only (infra/modules/servicebus.bicep grants no more), so a reply
anywhere else is refused here, at the request's first delivery, with a reason recorded on the request. A reply
to a request that set `ReplyToSessionId` carries it as its `SessionId` (Service Bus request-reply; a
session-enabled reply queue refuses a message without one). A reply that cannot be delivered is recorded on the
request's ledger row (`replyError` in the status API) and never decides how the request is settled. Used by the
intake (refusals) and the work handler (outcomes).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from shared.azure.ledger import Ledger, LedgerConflict, RequestRecord
from shared.azure.outbox import Outbox, OutgoingMessage, Undeliverable
from shared.bootstrap.names import derived_id, message_request_id, reply_queue_problem
from shared.errors import RequestRejected
from shared.log_context import get_logger
from shared.pipeline.install_request import SCHEMA_VERSION
from shared.pipeline.outcome_record import log_run
from shared.settings import Settings
from shared.untrusted import echo

log = get_logger("argoboot.requests")


@dataclass(frozen=True)
class ReplyAddress:
    """Where one request's reply goes: an allowed entity and the requester's session on it, if any."""

    entity: str
    session_id: str | None = None


def reply_refusal(reply_to: str, settings: Settings) -> str | None:
    """Why no reply goes to `reply_to` (None: it may). Never the service's own queues (a loop, or a forged request);
    only an entity ALLOWED_REPLY_ENTITIES names or matches, compared case-insensitively as Service Bus does."""
    problem = reply_queue_problem(reply_to, settings.queue_name)
    if problem is not None:
        return problem
    if reply_to.lower() == settings.work_queue_name.lower():
        return "names the service's internal work queue; replies never go there"
    if not any(fnmatchcase(reply_to.lower(), allowed) for allowed in settings.reply_entities):
        return ("is not among the entities replies may go to (app setting ALLOWED_REPLY_ENTITIES); ask the platform "
                "team to add your reply queue, or read the outcome from GET /api/requests/<requestId>")
    return None


@dataclass
class Replier:
    """Sends replies and refusals; records on the request's row any reply that could not be delivered."""

    settings: Settings
    ledger: Ledger
    outbox: Outbox
    clock: Callable[[], float]

    def address(self, message_id: str | None, reply_to: str | None,
                reply_to_session_id: str | None) -> tuple[ReplyAddress | None, str | None]:
        """(where to reply, None) or (None, why not: logged and recorded on the request)."""
        if not reply_to:
            return None, None
        refusal = reply_refusal(reply_to, self.settings)
        if refusal is not None:
            why = f"ReplyTo {echo(reply_to)} {refusal}"
            log.warning("message=%s: no reply will be sent: %s", message_id, why)
            return None, why
        return ReplyAddress(reply_to, reply_to_session_id or None), None

    def send(self, address: ReplyAddress, body: dict[str, Any], request_id: str, correlation_id: str | None) -> None:
        """Send one reply. One that cannot be delivered (a missing, disabled or refusing entity; no right on it; a
        session-enabled queue and no ReplyToSessionId) is logged and recorded on the request; the bus unreachable
        raises, and the redelivered message sends it again (the same message id: a duplicate is dropped)."""
        if reply_refusal(address.entity, self.settings) is not None:  # a record written before the allowlist changed
            self.record_undeliverable(request_id, f"ReplyTo {echo(address.entity)} is no longer allowed")
            return
        try:
            self.outbox.send(OutgoingMessage(queue=address.entity, body=json.dumps(body).encode(),
                                             message_id=derived_id("reply-", request_id),
                                             session_id=address.session_id, correlation_id=correlation_id))
        except Undeliverable as exc:
            log.warning("request=%s: the reply to %s could not be sent (%s: %s); the outcome is in the ledger "
                        "(GET /api/requests/%s)", request_id, address.entity, type(exc).__name__, exc, request_id)
            self.record_undeliverable(request_id, f"the reply to {echo(address.entity)} could not be delivered: "
                                      f"{type(exc).__name__}: {echo(str(exc))}")

    def record_undeliverable(self, request_id: str, why: str) -> None:
        for _ in range(3):
            row = self.ledger.get_request(request_id)
            if row is None or row.reply_error == why:
                return
            try:
                self.ledger.save_request(replace(row, reply_error=why[:1000], updated=self.clock()))
                return
            except LedgerConflict:
                continue

    def reject(self, message_id: str | None, reply_to: str | None, reply_to_session_id: str | None,
               exc: RequestRejected) -> None:
        """Record a refused request (by its message id) and answer it where allowed."""
        log.error("message=%s rejected: %s: %s", message_id, exc.reason, exc.description)
        log_run(None, "rejected", error_code=exc.reason, profile=None, source="request")
        now = self.clock()
        request_id = message_request_id(message_id) if message_id else None
        if request_id is None:
            return
        address, refused = self.address(message_id, reply_to, reply_to_session_id)
        try:
            self.ledger.save_request(RequestRecord(
                request_id=request_id, cluster_key="", action="unknown", status="rejected", created=now,
                updated=now, error_code=exc.reason, error_message=exc.description, message_id=message_id,
                reply_error=refused))
        except LedgerConflict:
            log.info("message=%s was already recorded as rejected", message_id)
        if address is not None:
            body = result_body(request_id, None, None, "rejected", [],
                               {"code": exc.reason, "message": exc.description}, now)
            self.send(address, body, request_id, message_id)


def result_body(request_id: str, cluster_id: str | None, action: str | None, outcome: str, steps: list[str],
                error: dict[str, str | None] | None, now: float,
                actions_required: list[str] | None = None,
                gitops_root: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The reply to a request (result schema v1); `actionsRequired` lists what a person still has to do;
    `gitopsRoot` is the root Application (repoURL, path, targetRevision, applied) when the profile has one."""
    body = {"schemaVersion": SCHEMA_VERSION, "requestId": request_id, "clusterResourceId": cluster_id,
            "action": action, "outcome": outcome, "steps": steps, "error": error,
            "actionsRequired": actions_required or [],
            "completedAt": datetime.fromtimestamp(now, tz=UTC).isoformat()}
    if gitops_root is not None:
        body["gitopsRoot"] = dict(gitops_root)
    return body
