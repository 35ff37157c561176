"""The picture of docs/poll-schedule.md: when the service checks a group of installs, and when it notices each end.

`./dev bench latency --plot` runs a group of new clusters through the queue path on the local Azure's virtual
clock (Azure's install times drawn from lognormals, `benchmarks.latency`) and draws, one row per install, every
check (a GET of the extension) against the time since the install began, Azure's end, and the notice latency
(from that end to the check that saw it). Matplotlib with the Agg backend: a PNG, no display needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.wait_figures import Waits
from shared.bootstrap.poll_schedule import next_check
from shared.settings import Settings

DEFAULT_PATH = "docs/img/poll-schedule.png"
CLUSTERS = 40  # one row each: enough to see the spread, few enough to read
SIGMA = 0.3  # the widest spread of `./dev bench latency`'s figures


def nominal_checks(cap: float, until: float) -> list[float]:
    """The schedule's checks of a wait, in seconds since it began (no Retry-After, reads not scarce)."""
    checks, at = [], 0.0
    while (at := at + next_check(elapsed=at, cap=cap)) <= until:
        checks.append(at)
    return checks


def plot(waits: list[tuple[str, float, float, list[Any]]], path: str, sigma: float) -> None:
    """Draw the installs of `waits` (kind, began, done, GETs after) into `path`, and print their figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cap = Settings().extension_poll_seconds
    installs = sorted((w for w in waits if w[0] == "install"), key=lambda w: w[2] - w[1])
    figures = Waits()
    for _, began, done, gets in installs:
        figures.add(began, done, gets)
    fig, ax = plt.subplots(figsize=(10, 0.16 * len(installs) + 2.0), dpi=110)
    longest = max(w[2] - w[1] for w in installs) + cap
    for x in nominal_checks(cap, longest):
        ax.axvline(x, color="0.9", linewidth=0.8, zorder=0)
    for row, (_, began, done, gets) in enumerate(installs):
        noticed = next(g.started for g in gets if g.started >= done)
        checks = [g.started - began for g in gets if g.started <= noticed]
        ax.scatter(checks, [row] * len(checks), s=7, color="tab:blue", zorder=3,
                   label="a check (one GET of the extension)" if row == 0 else None)
        ax.plot([done - began, noticed - began], [row, row], color="tab:red", linewidth=2.2, zorder=2,
                label="notice latency: Azure done until a check sees it" if row == 0 else None)
        ax.scatter([done - began], [row], marker="|", s=60, color="black", zorder=4,
                   label="Azure done (the install ended)" if row == 0 else None)
    ax.set_xlabel("seconds since the install began (the service's PUT)")
    ax.set_ylabel("one row per install, shortest at the bottom")
    ax.set_yticks([])
    ax.set_xlim(0, longest)
    ax.set_title(f"When the service checks an install: {len(installs)} installs (sigma {sigma:g}), checks at 0.5 s, "
                 f"then doubling gaps up to {cap:g} s (EXTENSION_POLL_SECONDS)\n(grey lines: the schedule's "
                 f"checks, from each install's own start)\nnotice latency and reads: {' '.join(figures.row().split())}",
                 fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}: {len(installs)} installs, notice latency and reads per install: {figures.row()}")
