"""What the work queue's handler does with one message: validate, reconcile, record, continue or reply.

Called by `handlers.work_items` with a plain `InboundMessage` (no azure.functions types here). Only the app sends to
the work queue (requests forwarded by `shared.pipeline.intake`, events, the sweep, continuations), besides the
operators granted Send on it for rollout actions (`shared.pipeline.rollout_request`), so the
`argoboot*` properties read here carry the service's own authority; times read from them are still bounded to a
window around now. Per-cluster ordering comes from the work queue's sessions (one per cluster, the id the service
derives); the ledger coalesces concurrent waits so that however many requests arrive for one cluster, one
continuation chain polls Azure and every sender gets its reply when the outcome is known.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from shared.azure.ledger import ClusterRecord, Ledger, LedgerConflict, Owned, RequestRecord, Waiter
from shared.azure.outbox import Outbox, OutgoingMessage
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.outcome import Outcome, Phase
from shared.bootstrap.poll_planner import REGISTRATION_TIMED_OUT, WAIT_TIMED_OUT, PollPlanner, resumed
from shared.bootstrap.profiles import Profile, ProfileCatalog
from shared.bootstrap.reconciler import Reconciler
from shared.bootstrap.scope import out_of_scope
from shared.errors import RequestRejected
from shared.log_context import add_log_ids, get_logger, log_scope
from shared.pipeline.install_request import InstallRequest
from shared.pipeline.intent import Decision, Remembered, Source, bounded_time, decide
from shared.pipeline.outcome_record import install_seconds, log_run
from shared.pipeline.replies import Replier, ReplyAddress, result_body
from shared.pipeline.rollout import Rollouts
from shared.pipeline.rollout_request import RolloutActions, RolloutRequest, parse_work_item
from shared.settings import Settings
from shared.telemetry import span

log = get_logger("argoboot.requests")

CONTINUATION_PROPERTY = "argobootContinuation"
SOURCE_PROPERTY = "argobootSource"  # "request" (forwarded by the intake), "event" or "sweep"
EVENT_TIME_PROPERTY = "argobootEventTime"  # epoch seconds of the Event Grid event
ORIGIN_PROPERTY = "argobootOrigin"  # on a continuation: the source of the message that began its chain
SENDER_MESSAGE_ID_PROPERTY = "argobootSenderMessageId"  # the requester's message id: the reply's CorrelationId
REPLY_REFUSED_PROPERTY = "argobootReplyRefused"  # why the intake refused the requester's ReplyTo
DUE_PROPERTY = "argobootDueMs"  # epoch milliseconds a continuation is scheduled for (the poll schedule's next check)
_LEDGER_RETRIES = 5


@dataclass(frozen=True)
class InboundMessage:
    """The parts of a Service Bus message the service reads."""

    body: bytes
    message_id: str | None = None
    session_id: str | None = None
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    correlation_id: str | None = None
    delivery_count: int | None = None
    application_properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def continuation(self) -> int:
        """0 for a request someone sent; n for our own n-th scheduled follow-up (anything else counts as 0)."""
        value = self.application_properties.get(CONTINUATION_PROPERTY)
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
            return int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**9 else 0

    @property
    def source(self) -> Source:
        if self.continuation:
            return "continuation"
        source = self.application_properties.get(SOURCE_PROPERTY)
        return source if source in ("event", "sweep") else "request"

    @property
    def origin(self) -> Source:
        """The source of the message that began this chain (a continuation's is in its properties)."""
        if not self.continuation:
            return self.source
        origin = self.application_properties.get(ORIGIN_PROPERTY)
        return origin if origin in ("request", "event", "sweep") else "event"

    @property
    def sender_message_id(self) -> str | None:
        """The requester's own message id (the intake forwards it); the reply's CorrelationId."""
        value = self.application_properties.get(SENDER_MESSAGE_ID_PROPERTY)
        return value if isinstance(value, str) and value else self.message_id

    @property
    def reply_refused(self) -> str | None:
        value = self.application_properties.get(REPLY_REFUSED_PROPERTY)
        return value if isinstance(value, str) and value else None

    @property
    def event_time(self) -> float | None:
        value = self.application_properties.get(EVENT_TIME_PROPERTY)
        try:
            moment = float(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
        except ValueError:
            return None
        return moment if moment is not None and math.isfinite(moment) else None


@dataclass(frozen=True)
class Settlement:
    """Complete the message, or dead-letter it with a reason and a description."""

    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None

    @property
    def dead_letter(self) -> bool:
        return self.dead_letter_reason is not None


@dataclass
class RequestProcessor:
    """Everything one message needs; built once per instance by `shared.services`."""

    settings: Settings
    ledger: Ledger
    outbox: Outbox
    reconciler: Reconciler
    profiles: ProfileCatalog
    clock: Callable[[], float]
    planner: PollPlanner
    replier: Replier
    rollouts: Rollouts = field(init=False)  # staged profile changes: which version a run applies
    rollout_actions: RolloutActions = field(init=False)  # the operator's rollout-status|resume|abort messages

    def __post_init__(self) -> None:
        self.rollouts = Rollouts(self.ledger.rollouts, self.profiles, self.clock, self.ledger.get_cluster)
        self.rollout_actions = RolloutActions(self.ledger, self.profiles, self.replier, self.clock)

    def process(self, msg: InboundMessage) -> Settlement:
        """Handle one install-request message; raise only for failures worth a redelivery (ledger/bus down).

        Every log line of the run carries the cluster, request and correlation ids (`shared.log_context`):
        at first the session id and the message id, then the parsed body's cluster and request id.
        """
        with log_scope(cluster_id=msg.session_id, request_id=msg.message_id, correlation_id=_correlation(msg)), \
                span("install_request", message_id=msg.message_id, session_id=msg.session_id):
            try:
                return self._process(msg)
            except Exception:
                log.exception("message=%s session=%s delivery=%s failed; Service Bus will redeliver it (then "
                              "dead-letter it after the queue's max delivery count)", msg.message_id, msg.session_id,
                              msg.delivery_count)
                raise

    def _process(self, msg: InboundMessage) -> Settlement:
        try:
            item = parse_work_item(msg.body, message_id=msg.message_id)
            if isinstance(item, RolloutRequest):  # an operator's (Send on this queue is theirs and the app's only)
                self.rollout_actions.handle(item, message_id=msg.message_id, session_id=msg.session_id,
                                            reply_to=msg.reply_to, reply_to_session_id=msg.reply_to_session_id)
                return Settlement()
            request = item
            add_log_ids(cluster_id=request.cluster.key, request_id=request.request_id)
            refusal = out_of_scope(request.cluster, self.settings)
            if refusal is not None:
                raise RequestRejected(*refusal)
            record = self.ledger.get_cluster(request.cluster.key)
            now = self.clock()
            decision = decide(request, msg.source, _remembered(record, now), bounded_time(msg.event_time, now))
            # Mid-rollout: the version this cluster may have, and its install attempts since it was admitted.
            profile, attempts_from = self.rollouts.resolve(decision.profile, decision.overrides, request.cluster,
                                                           record) if decision.work == "reconcile" else (None, 0)
        except RequestRejected as exc:  # in scope at the intake, and not now: the settings changed in between
            self.replier.reject(msg.sender_message_id, msg.reply_to, msg.reply_to_session_id, exc)
            return Settlement(dead_letter_reason=exc.reason, dead_letter_description=exc.description)
        if decision.work is None:
            log.info("cluster=%s request=%s source=%s ignored: %s", request.cluster.key, request.request_id,
                     msg.source, decision.reason)
            return Settlement()
        live = msg.continuation > 0 and record is not None and msg.continuation >= record.continuation
        waiting_on = resumed(record.waiting_on, record.wait) if live and record is not None else None
        owned = Owned.of(record)  # what `argoboot plan` and `argoboot run` read from the ledger too
        if profile is not None:
            attempts = 0 if decision.explicit or record is None else record.attempts - attempts_from
            outcome = self.reconciler.reconcile(
                request.cluster, profile, may_reinstall=attempts < self.settings.max_install_attempts,
                waiting_on=waiting_on, honour_opt_out=not _on_request(decision, msg, record),
                adopt=decision.explicit and request.adopt, owned=owned,
                reinstall=decision.explicit and request.reinstall,
                resuming=live and record is not None and record.waiting_on == "throttled")
        else:
            outcome = self.reconciler.remove(request.cluster, owned.created,
                                             adopt=decision.explicit and request.adopt)
        updated = self._record(request, decision, profile, msg, outcome, record)
        if profile is not None:
            self.rollouts.record(request.cluster, profile, updated)
        return Settlement()

    def _record(self, request: InstallRequest, decision: Decision, profile: Profile | None, msg: InboundMessage,
                outcome: Outcome, record: ClusterRecord | None) -> ClusterRecord:
        """Fold the outcome into the ledger (ETag-safe), schedule the follow-up or answer every waiter."""
        for _ in range(_LEDGER_RETRIES):
            now = self.clock()
            base = record or ClusterRecord.new(request.cluster, now)
            updated, follow_up, answered = self._fold(base, request, decision, profile, msg, outcome, now)
            # Everything else before saving the cluster's row: a crash in between leaves a duplicate (the same
            # message ids, dropped by duplicate detection), never a gap. Saved first, the row would forget the
            # waiters, and the redelivered message would answer nobody.
            if follow_up is not None:
                self.outbox.send(follow_up)
            self._save_requests((*updated.waiters, *answered), updated, now)
            for waiter in answered:
                self._reply(waiter, request.cluster, updated, now)
            try:
                self.ledger.save_cluster(updated)
            except LedgerConflict:
                record = self.ledger.get_cluster(request.cluster.key)
                continue
            # An event's first run: its latency.
            noticed = bounded_time(msg.event_time, now) if msg.source == "event" else None
            log_run(request.cluster, updated.phase, error_code=updated.last_error_code, profile=updated.profile,
                    source=msg.source, detail=f"request={request.request_id} continuation={msg.continuation} "
                    f"waiting_on={updated.waiting_on} {updated.last_error_message or ''}".rstrip(),
                    notice_seconds=None if noticed is None else now - noticed,
                    install_seconds=install_seconds(record, updated, now))
            return updated
        raise LedgerConflict(f"{request.cluster.key}: gave up after {_LEDGER_RETRIES} conflicting ledger writes")

    def _fold(self, base: ClusterRecord, request: InstallRequest, decision: Decision, profile: Profile | None,
              msg: InboundMessage, outcome: Outcome,
              now: float) -> tuple[ClusterRecord, OutgoingMessage | None, tuple[Waiter, ...]]:
        live = msg.continuation > 0 and msg.continuation >= base.continuation
        # A throttled run checked nothing: throttling slows a cluster down, it never uses up its MAX_WAIT_POLLS.
        polls = base.polls + (outcome.waiting_on != "throttled") if live else 0
        waiting_since = _waiting_since(base, outcome, now)
        outcome = self._bound(outcome, polls, now - (waiting_since or now))
        tracked = self.planner.track(base.wait, outcome, request.cluster.subscription)
        record = replace(fold_outcome(
            base, outcome, now, intent=decision.intent, deleted_at=decision.deleted_at,
            profile=profile.name if profile else decision.profile, overrides=decision.overrides,
            profile_digest=profile.digest if profile else None,
            request_id=request.request_id if decision.explicit else None), polls=polls, wait=tracked.wait)
        if msg.continuation == 0:
            record = record.with_waiter(Waiter(
                request.request_id, msg.reply_to, msg.sender_message_id, request.action,
                reply_to_session_id=msg.reply_to_session_id if msg.reply_to else None,
                reply_error=msg.reply_refused, explicit=decision.explicit))
        if outcome.phase is not Phase.WAITING:
            return replace(record, waiters=(), continuation_due=None), None, record.waiters
        grace = max(60.0, tracked.delay * 2)
        chain_lost = base.continuation_due is None or now > base.continuation_due + grace
        if not (live or chain_lost):
            return record, None, ()  # a live follow-up is already scheduled; it will answer this request too
        generation = max(base.continuation, msg.continuation) + 1
        due = now + tracked.delay  # the poll schedule's next check, and exactly when the follow-up is delivered
        # Follow-ups carry no profile or action: they work toward what the ledger says is desired when they run.
        body = replace(request, action="bootstrap", profile=None, overrides=None, adopt=False,
                       reinstall=False).to_body()
        # Its id is the same when this message is redelivered (a duplicate: dropped), and new when another message
        # restarts a chain whose ledger row was never saved (a ledger outage): the old ids may still be in the
        # duplicate-detection window, and the new chain would be dropped.
        follow_up = OutgoingMessage(
            queue=self.settings.work_queue_name, body=json.dumps(body).encode(),
            message_id=f"cont-{_digest(request.cluster.key)}-{generation}-{_digest(msg.message_id or '')[:8]}",
            session_id=request.cluster.session_id,
            correlation_id=_correlation(msg),  # the chain's log lines share the id of the message that began it
            scheduled_at=due,
            application_properties={CONTINUATION_PROPERTY: generation, DUE_PROPERTY: round(due * 1000),
                                    ORIGIN_PROPERTY: "request" if decision.explicit else msg.origin})
        return replace(record, continuation=generation, continuation_due=due), follow_up, ()

    def _bound(self, outcome: Outcome, polls: int, waited: float) -> Outcome:
        """Waits end: providers after their deadline, anything after MAX_WAIT_POLLS checks."""
        if outcome.phase is not Phase.WAITING:
            return outcome
        if outcome.waiting_on == "providers" and waited > self.settings.provider_registration_timeout:
            return replace(outcome, phase=Phase.FAILED, waiting_on=None, retry_after=None,
                           error_code=REGISTRATION_TIMED_OUT,
                           error_message=f"{outcome.steps[-1]} for {waited:.0f}s. Check the subscription's "
                           "registration in the portal (a policy may block it) or run `az provider register "
                           "--namespace <namespace> --wait`, then send the request again")
        if polls > self.settings.max_wait_polls:
            return replace(outcome, phase=Phase.FAILED, waiting_on=None, retry_after=None, error_code=WAIT_TIMED_OUT,
                           error_message=f"still waiting on {outcome.waiting_on} after {polls - 1} checks; "
                           "look at the cluster in the portal, then send the request again")
        return outcome

    def _save_requests(self, waiters: tuple[Waiter, ...], record: ClusterRecord, now: float) -> None:
        """Bring the rows of the requests waiting on (or answered by) this run in step with the cluster."""
        for waiter in waiters:
            existing = self.ledger.get_request(waiter.request_id)
            if existing is not None and (existing.status, existing.error_code) == (record.phase,
                                                                                   record.last_error_code):
                continue  # unchanged: no write
            base = existing or RequestRecord(request_id=waiter.request_id, cluster_key=record.key,
                                             action=waiter.action, status="accepted", created=now, updated=now,
                                             message_id=waiter.correlation_id, reply_error=waiter.reply_error)
            try:
                self.ledger.save_request(replace(base, status=record.phase, updated=now,
                                                 error_code=record.last_error_code,
                                                 error_message=record.last_error_message))
            except LedgerConflict:
                log.info("request=%s updated concurrently; keeping the other write", waiter.request_id)

    def _reply(self, waiter: Waiter, cluster: ClusterRef, record: ClusterRecord, now: float) -> None:
        if not waiter.reply_to:
            return
        error = {"code": record.last_error_code, "message": record.last_error_message} \
            if record.last_error_code else None
        body = result_body(waiter.request_id, cluster.id, waiter.action, record.phase,
                           [h["step"] for h in record.history], error, now, list(record.actions_required),
                           record.gitops_root)
        self.replier.send(ReplyAddress(waiter.reply_to, waiter.reply_to_session_id), body, waiter.request_id,
                          waiter.correlation_id)


def fold_outcome(base: ClusterRecord, outcome: Outcome, now: float, *, intent: str, deleted_at: float | None,
                 profile: str | None, overrides: dict[str, Any] | None, profile_digest: str | None,
                 request_id: str | None) -> ClusterRecord:
    """The cluster's record after one run: what the run saw and did, what is desired, what the service now owns.

    `request_id` is set for a run someone asked for explicitly: it becomes the last request, and the install
    attempts count from zero again. Shared by the queue handler and `argoboot run`, so both record alike."""
    removed = outcome.phase in (Phase.UNINSTALLED, Phase.DELETED)
    return replace(
        base.with_history(now, list(outcome.steps)), phase=outcome.phase.value, waiting_on=outcome.waiting_on,
        waiting_since=_waiting_since(base, outcome, now), intent=intent, deleted_at=deleted_at, profile=profile,
        overrides=overrides, last_changed=now, config_hash=None if removed else outcome.config_hash or base.config_hash,
        protected_hash=None if removed else outcome.protected_hash or base.protected_hash,
        extension_seen=outcome.extension_seen if outcome.config_hash or removed else base.extension_seen,
        gitops_root=None if removed else outcome.gitops_root if outcome.config_hash else base.gitops_root,
        profile_digest=profile_digest if profile_digest and outcome.phase is Phase.SUCCEEDED else base.profile_digest,
        created=_created(base.created, outcome),
        # A run that got as far as the extension re-derived them; a short poll keeps the last ones.
        actions_required=outcome.actions_required if outcome.config_hash or removed else base.actions_required,
        last_request_id=request_id or base.last_request_id,
        last_error_code=outcome.error_code, last_error_message=outcome.error_message,
        attempts=(0 if request_id else base.attempts) + outcome.installs)


def _waiting_since(base: ClusterRecord, outcome: Outcome, now: float) -> float | None:
    """When the current wait began. Throttling interrupts a wait without ending it: a provider's registration
    deadline keeps running."""
    if outcome.phase is not Phase.WAITING:
        return None
    same_wait = base.phase == Phase.WAITING.value and (
        base.waiting_on == outcome.waiting_on or "throttled" in (base.waiting_on, outcome.waiting_on))
    return base.waiting_since if same_wait and base.waiting_since is not None else now


def _remembered(record: ClusterRecord | None, now: float) -> Remembered | None:
    """What the record says is desired; a deletion time from outside the sane window (written before times were
    bounded) is read within it, so it can neither hide a re-created cluster for ever nor be undone at once."""
    if record is None:
        return None
    return Remembered(intent="absent" if record.intent == "absent" else "installed", profile=record.profile,
                      overrides=record.overrides,
                      deleted_at=bounded_time(record.deleted_at, now))


def _on_request(decision: Decision, msg: InboundMessage, record: ClusterRecord | None) -> bool:
    """Whether this run works for someone's explicit request: that request's own run, a follow-up of a chain it
    began, or a follow-up an explicit request is waiting on. Only events and the sweep honour the opt-out tag."""
    if decision.explicit or msg.origin == "request":
        return True
    return msg.continuation > 0 and record is not None and any(w.explicit for w in record.waiters)


def _created(before: tuple[str, ...], outcome: Outcome) -> tuple[str, ...]:
    """What the service owns for the cluster now: what it had, plus what this run created, minus what it removed."""
    kept = tuple(i for i in before if i not in outcome.removed)
    return kept + tuple(i for i in outcome.created if i not in kept)


def _correlation(msg: InboundMessage) -> str | None:
    """The id a sender can search the logs for: its CorrelationId if it set one, else its MessageId."""
    return msg.correlation_id or msg.message_id


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
