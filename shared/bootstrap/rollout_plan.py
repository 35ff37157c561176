"""A profile's `rollout:` section: the waves a change to the profile goes out in, and who is in which wave.

Parsed by `shared.bootstrap.profiles` like every other key (hostile input: grammar, limits, errors that name the key
and the fix); read by `shared.pipeline.rollout`, which keeps each rollout's progress in the ledger. Pure: wave
membership is a function of the cluster's key and tags only, so every instance and every sweep agrees on it.

    rollout:
      waves:
        - {name: canary, selector: {tags: {ring: canary}}}   # clusters carrying every one of these tags
        - {name: early, percent: 10}                         # the same 10 % of the fleet every time
        - {name: rest, percent: 100}                         # the last wave takes everything
      maxFailures: 0          # failed clusters a wave tolerates before the rollout halts; or "10%" of the wave
      soakMinutes: 60         # a done wave waits this long (watched, failures still halt) before the next opens
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import ProfileError
from shared.untrusted import echo, shown

MAX_WAVES = 10
MAX_SELECTOR_TAGS = 10
_WAVE_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}", re.ASCII)
# Azure tag names: up to 512 characters, not <>%&\?/; values up to 256. Kept narrower: one printable line.
_TAG_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}", re.ASCII)
_TAG_VALUE = re.compile(r"[ -~]{0,256}", re.ASCII)
_PERCENT = re.compile(r"(100|[1-9]?[0-9])%", re.ASCII)
_ROLLOUT_KEYS = frozenset({"waves", "maxFailures", "soakMinutes"})
MAX_SOAK_MINUTES = 7 * 24 * 60
_WAVE_KEYS = frozenset({"name", "selector", "percent"})


@dataclass(frozen=True)
class Wave:
    """One stage: clusters whose tags include all of `tags` (tag names compared case-insensitively, as Azure
    does), or, with `percent`, those whose stable bucket (0-99) is below it."""

    name: str
    tags: tuple[tuple[str, str], ...] = ()
    percent: int | None = None


@dataclass(frozen=True)
class RolloutPlan:
    waves: tuple[Wave, ...]
    max_failures: int = 0  # absolute count, unless `max_failures_percent` is set
    max_failures_percent: int | None = None
    soak_seconds: float = 0.0  # how long a wave stays done before the next one opens (AKS Fleet's wait after a stage)

    def tolerated(self, wave_size: int) -> int:
        """How many failed clusters a wave of this size may have before the rollout halts."""
        if self.max_failures_percent is None:
            return self.max_failures
        return wave_size * self.max_failures_percent // 100

    def wave_of(self, cluster_key: str, tags: Mapping[str, str]) -> int:
        """The index of the first wave that takes this cluster (the last wave takes every cluster)."""
        folded = {str(k).lower(): v for k, v in tags.items()}
        for index, wave in enumerate(self.waves):
            if wave.percent is not None and bucket(cluster_key) < wave.percent:
                return index
            if wave.tags and all(folded.get(name.lower()) == value for name, value in wave.tags):
                return index
        return len(self.waves) - 1


def bucket(cluster_key: str) -> int:
    """0-99, stable for a cluster (its lower-cased id's SHA-256): the same clusters are the first 10 % every time."""
    return int.from_bytes(hashlib.sha256(cluster_key.lower().encode()).digest()[:8], "big") % 100


def parse_rollout(value: Any, source: str) -> RolloutPlan | None:
    """Validate `rollout:`; None when absent (a change then goes to every cluster at once, as before)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ProfileError(source, "rollout", "must be a mapping with waves (and maxFailures)")
    for key in value:
        if key not in _ROLLOUT_KEYS:
            raise ProfileError(source, f"rollout.{echo(str(key))}",
                               f"unknown key; rollout has {', '.join(sorted(_ROLLOUT_KEYS))}")
    waves = value.get("waves")
    if isinstance(waves, str) or not isinstance(waves, Sequence) or not waves:
        raise ProfileError(source, "rollout.waves", "must be a list of waves, e.g. [{name: canary, selector: {tags: "
                           "{ring: canary}}}, {name: rest, percent: 100}]")
    if len(waves) > MAX_WAVES:
        raise ProfileError(source, "rollout.waves", f"has {len(waves)} waves; at most {MAX_WAVES}")
    parsed = tuple(_wave(wave, f"rollout.waves[{i}]", source) for i, wave in enumerate(waves))
    names = [w.name for w in parsed]
    if len(set(names)) != len(names):
        raise ProfileError(source, "rollout.waves", "names a wave twice; give each wave its own name")
    if parsed[-1].percent != 100:
        raise ProfileError(source, f"rollout.waves[{len(parsed) - 1}]", "the last wave must be percent: 100, so "
                           "that every cluster gets the change in the end")
    percents = [w.percent for w in parsed if w.percent is not None]
    if percents != sorted(percents):
        raise ProfileError(source, "rollout.waves", f"percentages {percents} go down; each percent wave is the "
                           "share of the fleet done by its end, so they only grow")
    count, percent = _max_failures(value.get("maxFailures", 0), source)
    soak = value.get("soakMinutes", 0)
    if isinstance(soak, bool) or not isinstance(soak, int) or not 0 <= soak <= MAX_SOAK_MINUTES:
        raise ProfileError(source, "rollout.soakMinutes", f"{shown(soak)} is not a whole number of minutes from 0 to "
                           f"{MAX_SOAK_MINUTES} (a week)")
    return RolloutPlan(waves=parsed, max_failures=count, max_failures_percent=percent, soak_seconds=soak * 60.0)


def _wave(value: Any, key: str, source: str) -> Wave:
    if not isinstance(value, Mapping):
        raise ProfileError(source, key, "must be a mapping with name and either selector or percent")
    for sub in value:
        if sub not in _WAVE_KEYS:
            raise ProfileError(source, f"{key}.{echo(str(sub))}",
                               f"unknown key; a wave has {', '.join(sorted(_WAVE_KEYS))}")
    name = value.get("name")
    if not isinstance(name, str) or not _WAVE_NAME.fullmatch(name):
        raise ProfileError(source, f"{key}.name", f"{shown(name)} is not a wave name: a lower-case letter, then up "
                           "to 31 lower-case letters, digits and hyphens")
    selector, percent = value.get("selector"), value.get("percent")
    if (selector is None) == (percent is None):
        raise ProfileError(source, key, "needs exactly one of selector (tags: {ring: canary}) or percent (1-100)")
    if percent is not None:
        if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
            raise ProfileError(source, f"{key}.percent", f"{shown(percent)} is not a whole number from 1 to 100")
        return Wave(name=name, percent=percent)
    tags = selector.get("tags") if isinstance(selector, Mapping) and set(selector) == {"tags"} else None
    if not isinstance(tags, Mapping) or not tags or len(tags) > MAX_SELECTOR_TAGS:
        raise ProfileError(source, f"{key}.selector", f"must be {{tags: {{NAME: VALUE}}}} with 1 to "
                           f"{MAX_SELECTOR_TAGS} tags the cluster must all carry")
    for tag, tag_value in tags.items():
        if not isinstance(tag, str) or not _TAG_NAME.fullmatch(tag):
            raise ProfileError(source, f"{key}.selector.tags", f"{shown(tag)} is not a tag name (letters, digits, "
                               "_ . : -, up to 128)")
        if not isinstance(tag_value, str) or not _TAG_VALUE.fullmatch(tag_value):
            raise ProfileError(source, f"{key}.selector.tags.{tag}", f"{shown(tag_value)} is not a tag value: a "
                               "quoted string of printable characters, up to 256")
    if len({t.lower() for t in tags}) != len(tags):
        raise ProfileError(source, f"{key}.selector.tags", "names a tag twice (tag names ignore case)")
    return Wave(name=name, tags=tuple(sorted(tags.items())))


def _max_failures(value: Any, source: str) -> tuple[int, int | None]:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10_000:
        return value, None
    if isinstance(value, str) and _PERCENT.fullmatch(value):
        return 0, int(value[:-1])
    raise ProfileError(source, "rollout.maxFailures", f"{shown(value)} is neither a count (0 to 10000) nor a "
                       "percentage of the wave such as \"10%\"")
