"""When to look again at something Azure is doing: the one poll schedule of the queue path and of `argoboot run`.

Pure (no clock, no I/O): `shared.bootstrap.poll_planner` feeds it the time waited so far, the past waits of the same
kind and group from the ledger, the read budget left, and the cap (the `*_POLL_SECONDS` / `IDENTITY_RETRY_SECONDS`
setting of the kind of wait). In order:

1. Azure's `Retry-After` (or the pacer's reserved slot), when it sent one: exactly that, never sooner.
2. With enough history (`MIN_HISTORY` past waits of this kind and group): nothing before the usual window (where
   about 98 % of such waits end, fitted to the past ones: `usual_window`); then evenly spaced checks over it,
   `WINDOW_READS` of them; past it, checks spread out again.
3. Without: a first check after `FIRST_CHECK` (a quick Azure is noticed at once), then each wait as long as the
   time waited so far (0.5, 1, 2, 4, 8 s ...).

Reads are where Azure is likely to be done, not spread evenly over minutes in which it never is. When the read
budget runs low (a burst), the gaps stretch, up to `MAX_STRETCH` times. A gap never exceeds the cap, except for
Azure's own Retry-After and the skip to the start of the usual window (history says nothing ends before it).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FIRST_CHECK = 0.5  # seconds: one read, and an Azure that is already done is noticed at once
MIN_GAP = 1.0  # never two checks closer than this (history or not)
MIN_HISTORY = 5  # past waits of a kind and group before their window is trusted
Z = 2.3  # the window spans e^(+-Z sigma) about the typical duration: about 98 % of waits end inside it
MIN_SIGMA = 0.01
#: Checks spent inside the usual window, per kind of wait (a registration's window is narrower than an install's,
#: and happens once per subscription). Kinds not named get the default.
WINDOW_READS = {"providers": 8}
DEFAULT_WINDOW_READS = 16
SCARCE_BELOW = 0.5  # fraction of the subscription's read budget left below which gaps stretch
MAX_STRETCH = 4.0


@dataclass(frozen=True)
class Sample:
    """One past wait, in seconds from its start: still in progress at the last check `after`, done by `by`."""

    after: float
    by: float


@dataclass(frozen=True)
class WaitState:
    """The wait a cluster is in: its kind and group (whose history predicts it), when it began, and when a check
    last saw it still in progress. `witnessed`: this service started what it awaits, so `began` is exact and the
    wait's duration may join the history."""

    kind: str
    group: str
    began: float
    seen: float
    witnessed: bool


@dataclass(frozen=True)
class Window:
    """Where past waits ended: from `start` (all but the fastest few still in progress) to `end`; checks `gap` apart."""

    start: float
    end: float
    gap: float


def usual_window(samples: Sequence[Sample], reads: int) -> Window | None:
    """The window past waits ended in, or None while there are too few of them to trust.

    A fit, not the extremes seen: durations of one kind and group spread about a typical one by a factor (a
    lognormal), so the window is their geometric mean times e^(+-Z sigma), sigma from the samples (widened while
    there are few), padded by half a sample's bracket. Samples bracketed much more loosely than most (waits noticed
    before there was history) are left out once there are enough precise ones."""
    if len(samples) < MIN_HISTORY:
        return None
    widths = sorted(s.by - s.after for s in samples)
    loose = 2 * widths[len(widths) // 2]
    precise = [s for s in samples if s.by - s.after <= loose]
    use = precise if len(precise) >= MIN_HISTORY else list(samples)
    logs = [math.log(max(MIN_GAP, (s.after + s.by) / 2)) for s in use]
    mean = sum(logs) / len(logs)
    sigma = max(MIN_SIGMA, math.sqrt(sum((x - mean) ** 2 for x in logs) / len(logs))) * (1 + 1 / math.sqrt(len(logs)))
    pad = max(s.by - s.after for s in use) / 2
    start = max(0.0, math.exp(mean - Z * sigma) - pad)
    end = math.exp(mean + Z * sigma) + pad
    return Window(start, end, max(MIN_GAP, (end - start) / max(1, reads)))


def stretch(headroom: float) -> float:
    """How much longer the gaps get when only `headroom` (0..1) of the read budget is left."""
    if headroom >= SCARCE_BELOW:
        return 1.0
    scarcity = (SCARCE_BELOW - max(0.0, headroom)) / SCARCE_BELOW
    return 1.0 + (MAX_STRETCH - 1.0) * scarcity


def next_check(*, kind: str, elapsed: float, cap: float, samples: Sequence[Sample] = (),
               retry_after: float | None = None, headroom: float = 1.0) -> float:
    """Seconds from now until the next check of a wait `elapsed` seconds old."""
    if retry_after is not None:
        return max(0.0, retry_after)
    elapsed = max(0.0, elapsed)
    window = usual_window(samples, WINDOW_READS.get(kind, DEFAULT_WINDOW_READS))
    if window is not None and elapsed < window.start - MIN_GAP / 2:
        return window.start - elapsed  # history: nothing of this kind ends sooner
    if window is not None and elapsed < window.end:
        # The next point of the window's grid, so checks stay evenly spaced whenever the run happened.
        steps = math.floor((elapsed - window.start) / window.gap) + 1
        gap = window.start + steps * window.gap - elapsed
        if gap < MIN_GAP / 2:
            gap += window.gap  # a point this close is as good as the check that just ran
    elif window is not None:
        gap = max(window.gap, (elapsed - window.start) / 2)  # later than usual: spread out again
    else:
        gap = max(FIRST_CHECK, elapsed)
    return min(cap, gap * stretch(headroom))
