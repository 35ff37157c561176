"""When to look again at something Azure is doing: the one poll schedule of the queue path and of `argoboot run`.

In a sentence: Azure's `Retry-After` exactly when Azure sends one; otherwise a first check 0.5 s after the wait
began and each gap twice the one before, up to the cap of the kind of wait (its `*_POLL_SECONDS` /
`IDENTITY_RETRY_SECONDS` setting), some of those checks skipped (never a gap past the cap) only when the pacer says
the subscription's read budget is scarce. Pure (no clock, no I/O, no history): `shared.bootstrap.poll_planner`
feeds it the time waited, the cap and the budget left.
"""
from __future__ import annotations

from dataclasses import dataclass

FIRST_CHECK = 0.5  # seconds: one read, and an Azure that is already done is noticed at once
SCARCE_BELOW = 0.5  # fraction of the subscription's read budget left below which gaps stretch
MAX_STRETCH = 4.0  # the most a gap stretches (never past the cap)


@dataclass(frozen=True)
class WaitState:
    """The wait a cluster is in: its kind, when it began (epoch seconds) and when a check last saw it going on."""

    kind: str
    began: float
    seen: float


def stretch(headroom: float) -> float:
    """How much longer a gap may get when only `headroom` (0..1) of the read budget is left: 1 while at least
    SCARCE_BELOW is, rising linearly to MAX_STRETCH as it runs out."""
    if headroom >= SCARCE_BELOW:
        return 1.0
    return 1.0 + (MAX_STRETCH - 1.0) * (SCARCE_BELOW - max(0.0, headroom)) / SCARCE_BELOW


def next_check(*, elapsed: float, cap: float, retry_after: float | None = None, headroom: float = 1.0) -> float:
    """Seconds from now until the next check of a wait `elapsed` seconds old (at its last check).

    The checks fall at 0.5, 1.5, 3.5, 7.5 ... s (gaps 0.5, 1, 2, 4 ...), then every `cap`: the gap after a check at
    `elapsed` is `elapsed + FIRST_CHECK`, twice the gap before it, so the rule needs no state beyond when the wait
    began. A stretched gap skips checks of that schedule rather than move them (the furthest within the stretched
    gap), so that the checks once at the cap stay where they were: a burst's waits are noticed as soon as ever."""
    if retry_after is not None:
        return max(0.0, retry_after)
    at = max(0.0, elapsed)
    longest = min(cap, (at + FIRST_CHECK) * stretch(headroom))
    gap = min(cap, at + FIRST_CHECK)
    while gap + (skip := min(cap, at + gap + FIRST_CHECK)) <= longest:
        gap += skip
    return gap
