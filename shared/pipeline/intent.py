"""What one message asks of a cluster, given what the ledger remembers: install it, remove it, or nothing.

Messages come from four places: another team's request, an Event Grid event, the sweep, and the
service's own follow-ups. Only a request changes what is desired (installed or absent, profile,
overrides); events, the sweep and follow-ups work toward what the ledger says is desired. That is
what keeps an uninstall from being undone by the next cluster update event, and a delete from being
resurrected by a write event that Event Grid delivers after it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from shared.pipeline.install_request import InstallRequest

Intent = Literal["installed", "absent"]

#: The window a time read from a message (or an old ledger row) is bounded to: Event Grid retries an event for up
#: to 24 hours, so an event time two days old is the oldest that can be true; five minutes ahead covers clock skew.
TIME_PAST_LIMIT = 2 * 86400.0
TIME_FUTURE_LIMIT = 300.0
Source = Literal["request", "event", "sweep", "continuation"]


def bounded_time(moment: float | None, now: float) -> float | None:
    """`moment` within [now - TIME_PAST_LIMIT, now + TIME_FUTURE_LIMIT]: no message can date a cluster's deletion a
    century ahead (hiding a re-created cluster for ever) or in 1970 (undone by the next sweep)."""
    if moment is None:
        return None
    return min(max(moment, now - TIME_PAST_LIMIT), now + TIME_FUTURE_LIMIT)


@dataclass(frozen=True)
class Remembered:
    """The part of a cluster's ledger record that decides what a message means."""

    intent: Intent
    profile: str | None
    overrides: dict[str, Any] | None
    deleted_at: float | None


@dataclass(frozen=True)
class Decision:
    """`work` is None when the message must be ignored (`reason` says why, for the log and the history)."""

    work: Literal["reconcile", "remove"] | None
    intent: Intent
    profile: str | None
    overrides: dict[str, Any] | None
    explicit: bool  # a request someone sent: it resets the install attempts and gets a reply
    deleted_at: float | None = None
    reason: str = ""


def decide(request: InstallRequest, source: Source, remembered: Remembered | None,
           event_time: float | None) -> Decision:
    """Decide from the message and the ledger alone (no Azure calls): pure, so every case is unit-tested."""
    if source == "request":
        intent: Intent = "absent" if request.action == "uninstall" else "installed"
        sets_profile = request.profile is not None or request.overrides is not None
        profile = request.profile if sets_profile else (remembered.profile if remembered else None)
        overrides = request.overrides if sets_profile else (remembered.overrides if remembered else None)
        return Decision("remove" if intent == "absent" else "reconcile", intent, profile, overrides, explicit=True)
    if source == "continuation" and remembered is None:
        # Follow-ups carry no profile: with no record (its first run never saved one, the ledger was down) it would
        # fall back to the default profile and undo what the request asked for. Its sender asks again.
        return Decision(None, "installed", None, None, explicit=False,
                        reason="a follow-up for a cluster the ledger has no record of; ignored")
    profile = remembered.profile if remembered else None
    overrides = remembered.overrides if remembered else None
    deleted_at = remembered.deleted_at if remembered else None
    if source in ("event", "sweep") and request.action == "uninstall":  # the cluster is gone
        return Decision("remove", "absent", profile, overrides, explicit=False,
                        deleted_at=max(event_time or 0.0, deleted_at or 0.0))
    if source in ("event", "sweep") and deleted_at is not None:
        if event_time is None or event_time <= deleted_at:
            return Decision(None, "absent", profile, overrides, explicit=False, deleted_at=deleted_at,
                            reason="a write event older than the cluster's deletion arrived late; ignored")
        # Written after it was deleted: a new cluster with the same id. Start over with the default profile.
        return Decision("reconcile", "installed", None, None, explicit=False)
    if remembered is not None and remembered.intent == "absent":
        if source == "continuation":
            return Decision("remove", "absent", profile, overrides, explicit=False, deleted_at=deleted_at)
        return Decision(None, "absent", profile, overrides, explicit=False, deleted_at=deleted_at,
                        reason="Argo CD was uninstalled on request; send a bootstrap request to install it again")
    return Decision("reconcile", "installed", profile, overrides, explicit=False)
