"""The operator's rollout actions as requests: `rollout-status|resume|abort` on the internal work queue.

The trust boundary is Azure's: only the app and the identities granted `Azure Service Bus Data Sender` on the work
queue (infra: `workQueueSenderPrincipalIds`) can send there, while anyone with Send on the public queue could write
any body, so the public queue refuses these actions by name (`install_request.OPERATOR_ACTIONS`) and its intake
forwards only the body it rewrote from an install request. One grammar for both queues: the same JSON limits
(`load_object`), profile and request-id grammars. A rollout action runs on session `rollout-<profile>`, so two
actions on one profile run one at a time; its requestId makes it idempotent (a redelivered resume resumes once).
`act` is shared with the status API's admin POSTs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from shared.azure.ledger import Ledger, LedgerConflict, RequestRecord
from shared.azure.rollout_store import RolloutState, RolloutStore
from shared.bootstrap.names import PROFILE_NAME_RULE, is_profile_name
from shared.bootstrap.profiles import ProfileCatalog
from shared.errors import RequestRejected
from shared.log_context import add_log_ids, get_logger
from shared.pipeline.install_request import (
    OPERATOR_ACTIONS,
    InstallRequest,
    check_envelope,
    install_request_from,
    load_object,
    request_id_of,
)
from shared.pipeline.replies import Replier, result_body
from shared.pipeline.rollout import operate
from shared.pipeline.status_view import rollout_view
from shared.untrusted import shown

log = get_logger("argoboot.rollout")
_FIELDS = {"schemaVersion", "action", "profile", "requestId"}


@dataclass(frozen=True)
class RolloutRequest:
    """A validated rollout action: what to do to which profile's rollout, and who asked."""

    request_id: str
    action: str  # one of OPERATOR_ACTIONS
    profile: str

    @property
    def session_id(self) -> str:
        return rollout_session_id(self.profile)


def rollout_session_id(profile: str) -> str:
    """The work queue's session for a profile's rollout actions (never a cluster's: those are ids or `cluster-`)."""
    return f"rollout-{profile}"


def parse_work_item(body: bytes, *, message_id: str | None) -> InstallRequest | RolloutRequest:
    """A work-queue message: an install request, or (the work queue only) an operator's rollout action."""
    data = load_object(body)
    if data.get("action") not in OPERATOR_ACTIONS:
        return install_request_from(data, message_id=message_id)
    check_envelope(data, _FIELDS, "a rollout action")
    profile = data.get("profile")
    if not is_profile_name(profile):
        raise RequestRejected("InvalidProfile", f"profile {shown(profile)} is not a profile name ({PROFILE_NAME_RULE});"
                              " a rollout action names the profile whose rollout it acts on")
    return RolloutRequest(request_id=request_id_of(data, message_id), action=data["action"], profile=profile)


def no_rollout(name: str) -> RequestRejected:
    """The refusal for a profile with no rollout: the work queue's, the CLI's and the status API's (404)."""
    return RequestRejected("RolloutNotFound", f"no rollout of profile {name!r}: the service has applied no version "
                           "of it yet")


def act(store: RolloutStore, name: str, action: Literal["resume", "abort"], by: str,
        clock: Callable[[], float]) -> RolloutState:
    """Resume or abort a profile's rollout: RequestRejected RolloutNotFound (none) or RolloutCompleted (nothing
    left to resume or abort); otherwise `operate`, idempotent."""
    state = store.get_state(name)
    if state is None:
        raise no_rollout(name)
    if state.status == "completed":
        raise RequestRejected("RolloutCompleted", f"the rollout of profile {name!r} is completed: there is nothing "
                              f"to {action}; a new version of the profile starts a new rollout")
    return operate(store, name, action, by, clock)


@dataclass
class RolloutActions:
    """Runs a rollout action from the work queue and answers it (ReplyTo, where ALLOWED_REPLY_ENTITIES allows)."""

    ledger: Ledger
    profiles: ProfileCatalog
    replier: Replier
    clock: Callable[[], float]

    def handle(self, request: RolloutRequest, *, message_id: str | None, session_id: str | None,
               reply_to: str | None, reply_to_session_id: str | None) -> None:
        """Act, record the request, reply; RequestRejected for a refusal (the caller dead-letters and answers)."""
        add_log_ids(request_id=request.request_id)
        if session_id != request.session_id:
            raise RequestRejected("WrongSession", f"a {request.action} message must be sent with SessionId "
                                  f"{request.session_id!r} (not {shown(session_id)}), so that actions on one "
                                  "profile's rollout run one at a time (docs/rollouts.md)")
        address, refused = self.replier.address(message_id, reply_to, reply_to_session_id)
        earlier = self.ledger.get_request(request.request_id)
        if earlier is not None and earlier.action != request.action:
            raise RequestRejected("RequestIdInUse", f"requestId {request.request_id!r} was a {earlier.action} "
                                  "request; give each request its own requestId")
        store = self.ledger.rollouts
        if request.action == "rollout-status" or earlier is not None:  # a read, or a duplicate: done already
            state = store.get_state(request.profile)
            if state is None:
                raise no_rollout(request.profile)
        else:
            verb: Literal["resume", "abort"] = "resume" if request.action == "rollout-resume" else "abort"
            state = act(store, request.profile, verb, f"{request.action} request {request.request_id}", self.clock)
        if earlier is None:
            self._record(request, message_id, refused)
        else:
            log.info("request=%s is a duplicate of one already done; answered with the rollout as it is now",
                     request.request_id)
        if address is not None:
            body = result_body(request.request_id, None, request.action, "succeeded", [], None, self.clock())
            self.replier.send(address, body | {"rollout": self._view(state)}, request.request_id, message_id)

    def _record(self, request: RolloutRequest, message_id: str | None, refused: str | None) -> None:
        now = self.clock()
        try:
            self.ledger.save_request(RequestRecord(
                request_id=request.request_id, cluster_key="", action=request.action, status="succeeded",
                created=now, updated=now, message_id=message_id, reply_error=refused))
        except LedgerConflict:  # a concurrent duplicate recorded it first
            log.info("request=%s was recorded concurrently", request.request_id)

    def _view(self, state: RolloutState) -> dict[str, Any]:
        profile = self.profiles.profiles.get(state.profile)
        members = self.ledger.rollouts.members(state.profile, state.target)
        return rollout_view(state, profile.rollout if profile else None, members)
