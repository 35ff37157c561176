"""A profile's `rollout:`: what it accepts, how it refuses (key and fix named), and who is in which wave."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.bootstrap.profiles import ProfileError, parse_profile
from shared.bootstrap.rollout_plan import RolloutPlan, Wave, bucket, parse_rollout
from shared.errors import RequestRejected

CANARY = {"name": "canary", "selector": {"tags": {"ring": "canary"}}}
REST = {"name": "rest", "percent": 100}


def plan(**rollout: Any) -> RolloutPlan:
    parsed = parse_rollout({"waves": [CANARY, {"name": "early", "percent": 10}, REST]} | rollout, "p.yaml")
    assert parsed is not None
    return parsed


def test_waves_parse_into_selectors_and_shares() -> None:
    assert plan(maxFailures=1) == RolloutPlan(waves=(Wave("canary", tags=(("ring", "canary"),)),
                                                     Wave("early", percent=10), Wave("rest", percent=100)),
                                              max_failures=1)
    assert parse_rollout(None, "p.yaml") is None  # no rollout: every cluster at once, as before
    assert plan(maxFailures="10%").tolerated(25) == 2 and plan().tolerated(25) == 0
    assert plan(soakMinutes=90).soak_seconds == 5400.0 and plan().soak_seconds == 0


@pytest.mark.parametrize(("rollout", "key", "fix"), [
    ("waves", "rollout", "mapping"),
    ({"waves": [], }, "rollout.waves", "list of waves"),
    ({"waves": "canary"}, "rollout.waves", "list of waves"),
    ({"waves": [REST], "soak": 5}, "rollout.soak", "unknown key"),
    ({"waves": [{"name": "a", "percent": 100}] * 11}, "rollout.waves", "at most 10"),
    ({"waves": [CANARY]}, "rollout.waves[0]", "percent: 100"),
    ({"waves": [CANARY, {"name": "canary", "percent": 100}]}, "rollout.waves", "twice"),
    ({"waves": [{"name": "a", "percent": 50}, {"name": "b", "percent": 20}, REST]}, "rollout.waves", "only grow"),
    ({"waves": [{"name": "Canary", "percent": 100}]}, "rollout.waves[0].name", "wave name"),
    ({"waves": [{"name": "a\nb", "percent": 100}]}, "rollout.waves[0].name", "wave name"),
    ({"waves": [{"name": "a", "percent": 100, "selector": {"tags": {"r": "x"}}}]}, "rollout.waves[0]",
     "exactly one"),
    ({"waves": [{"name": "a"}, REST]}, "rollout.waves[0]", "exactly one"),
    ({"waves": [{"name": "a", "percent": 0}, REST]}, "rollout.waves[0].percent", "1 to 100"),
    ({"waves": [{"name": "a", "percent": True}, REST]}, "rollout.waves[0].percent", "1 to 100"),
    ({"waves": [{"name": "a", "percent": "10%"}, REST]}, "rollout.waves[0].percent", "1 to 100"),
    ({"waves": [{"name": "a", "selector": {"ring": "x"}}, REST]}, "rollout.waves[0].selector", "tags"),
    ({"waves": [{"name": "a", "selector": {"tags": {}}}, REST]}, "rollout.waves[0].selector", "1 to 10"),
    ({"waves": [{"name": "a", "selector": {"tags": {"ri/ng": "x"}}}, REST]}, "rollout.waves[0].selector.tags",
     "tag name"),
    ({"waves": [{"name": "a", "selector": {"tags": {"ring": True}}}, REST]},
     "rollout.waves[0].selector.tags.ring", "quoted string"),
    ({"waves": [{"name": "a", "selector": {"tags": {"ring": "x\x1b[2J"}}}, REST]},
     "rollout.waves[0].selector.tags.ring", "printable"),
    ({"waves": [{"name": "a", "selector": {"tags": {"Ring": "x", "ring": "y"}}}, REST]},
     "rollout.waves[0].selector.tags", "twice"),
    ({"waves": [REST], "maxFailures": -1}, "rollout.maxFailures", "count"),
    ({"waves": [REST], "maxFailures": "110%"}, "rollout.maxFailures", "percentage"),
    ({"waves": [REST], "maxFailures": 1.5}, "rollout.maxFailures", "count"),
    ({"waves": [REST], "soakMinutes": "1h"}, "rollout.soakMinutes", "minutes"),
    ({"waves": [REST], "soakMinutes": 7 * 24 * 60 + 1}, "rollout.soakMinutes", "a week"),
    ({"waves": [REST], "soakMinutes": True}, "rollout.soakMinutes", "minutes"),
])
def test_bad_rollouts_are_refused_naming_the_key_and_the_fix(rollout: Any, key: str, fix: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile("p", {"rollout": rollout}, source="profiles/p.yaml")
    assert caught.value.key == key and fix in caught.value.problem
    assert "\x1b" not in str(caught.value) and "\n" not in caught.value.key


def test_wave_membership_is_stable_and_the_percentages_hold() -> None:
    keys = [f"/subscriptions/s/resourcegroups/rg/providers/microsoft.containerservice/managedclusters/c{i}"
            for i in range(10_000)]
    early = [k for k in keys if plan().wave_of(k, {}) == 1]
    assert 900 <= len(early) <= 1100  # about 10 %
    assert early == [k for k in keys if plan().wave_of(k, {}) == 1]  # the same clusters every time
    assert bucket(keys[0].upper()) == bucket(keys[0])  # an id in another casing is the same cluster
    rest = next(k for k in keys if bucket(k) >= 10)
    assert plan().wave_of(rest, {"Ring": "canary"}) == 0  # tag names ignore case, as Azure's do
    assert plan().wave_of(rest, {"ring": "Canary"}) == 2  # values do not
    assert plan().wave_of(rest, {}) == 2


def test_the_rollout_section_is_not_part_of_the_version_and_requests_cannot_override_it() -> None:
    waves = {"waves": [CANARY, REST]}
    plain = parse_profile("p", {"ha": "auto", "overridable": ["ha"]}, source="p.yaml")
    staged = parse_profile("p", {"ha": "auto", "overridable": ["ha"], "rollout": waves}, source="p.yaml")
    assert staged.digest == plain.digest and staged.rollout is not None and plain.rollout is None
    with pytest.raises(RequestRejected) as caught:
        staged.with_overrides({"rollout": {"waves": [REST]}})
    assert caught.value.reason == "OverrideNotAllowed"


def test_the_documented_example_is_a_valid_profile() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "rollouts.md").read_text()
    [example] = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    profile = parse_profile("platform", yaml.safe_load(example), source="docs/rollouts.md")
    assert profile.rollout is not None and [w.name for w in profile.rollout.waves] == ["canary", "early", "rest"]
