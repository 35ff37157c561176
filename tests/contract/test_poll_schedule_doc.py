"""docs/poll-schedule.md states the rule's numbers: each is checked against the code it describes."""
from __future__ import annotations

import re
from pathlib import Path

from benchmarks.poll_plot import DEFAULT_PATH, nominal_checks
from shared.azure.pacing import ARM_LIMITS
from shared.bootstrap.poll_planner import PollPlanner
from shared.bootstrap.poll_schedule import FIRST_CHECK, MAX_STRETCH, SCARCE_BELOW
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "poll-schedule.md"
#: The table's rows: setting -> a kind of wait the planner gives that cap.
KINDS = {"PROVIDER_POLL_SECONDS": "providers", "EXTENSION_POLL_SECONDS": "install", "CLUSTER_POLL_SECONDS": "create",
         "IDENTITY_RETRY_SECONDS": "race"}


def _numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", text)]


def test_the_rule_as_stated_is_the_code() -> None:
    text = " ".join(PAGE.read_text().split())
    assert f"the first check is **{FIRST_CHECK:g} s** after the wait began" in text
    stated = re.search(r"checks at ((?:[\d.]+, )+[\d.]+) s \.\.\.", text)
    assert stated is not None and _numbers(stated.group(1)) == nominal_checks(cap=1e9, until=16)
    assert f"less than {SCARCE_BELOW * 100:g} % of the subscription's read budget" in text
    assert f"stretch up to {MAX_STRETCH:g} times, never past the cap" in text
    reads = ARM_LIMITS["reads"]
    assert f"{reads.burst:g} reads at once, then {reads.per_second:g} a second" in text


def test_the_caps_and_their_checks_are_the_settings_and_the_schedule() -> None:
    planner = PollPlanner(Settings(), clock=lambda: 0.0)
    rows = re.findall(r"^\| .+ \| `([A-Z_]+)` \| (\d+) s \| ([\d., ]+) \.\.\. \|$", PAGE.read_text(), re.MULTILINE)
    assert {setting for setting, _, _ in rows} == set(KINDS)
    for setting, cap, checks in rows:
        assert float(cap) == planner.cap(KINDS[setting]), setting
        shown = _numbers(checks)
        assert shown == nominal_checks(float(cap), until=shown[-1]), setting


def test_the_demo_gaps_the_page_quotes_follow_the_schedule() -> None:
    text = " ".join(PAGE.read_text().split())
    quoted = re.search(r"`next check in ([\d.]+)s`, then `next checks after ((?:[\d.]+, )+[\d.]+) \.\.\.`", text)
    assert quoted is not None
    checks = nominal_checks(Settings().cluster_poll_seconds, until=31)
    gaps = [b - a for a, b in zip([0.0, *checks], checks, strict=False)]
    assert [float(quoted.group(1)), *_numbers(quoted.group(2))] == gaps[:1 + len(_numbers(quoted.group(2)))]


def test_the_picture_exists_and_the_page_shows_it() -> None:
    image = ROOT / DEFAULT_PATH
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000
    assert f"]({Path(DEFAULT_PATH).relative_to('docs')})" in PAGE.read_text()
