"""What one reconcile run ended in: the ledger records it, the handler settles and replies from it."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    PENDING = "pending"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DELETED = "deleted"


@dataclass(frozen=True)
class Outcome:
    """`steps` lists what this run observed and did, in order, for the timeline, the ledger and the reply;
    `installs` counts the extension installs it started (the ledger's attempt counter)."""

    phase: Phase
    steps: tuple[str, ...] = ()
    waiting_on: str | None = None
    retry_after: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    installs: int = 0

    @property
    def terminal(self) -> bool:
        return self.phase in (Phase.SUCCEEDED, Phase.FAILED)
