"""How long Azure's long operations take here, drawn per operation from seeded distributions (`./dev bench latency`).

Without it (`ArmEmulator.durations` None) every registration and install takes the family's fixed
`provider_registration_seconds` / `extension_install_seconds` / `extension_delete_seconds`. With it, each provider
registration draws from its namespace's distribution, each install from its region's and kind's (HA or not: redis-ha
takes longer), each uninstall and each new principal's replication from one distribution each, on the emulator's
clock, so a benchmark sees the spread a
fleet sees, reproducibly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Lognormal:
    """A lognormal around `median` (spread `sigma`, on the log scale), clipped to [low, high]."""

    median: float
    sigma: float
    low: float
    high: float

    def draw(self, rng: random.Random) -> float:
        return min(self.high, max(self.low, self.median * math.exp(self.sigma * rng.gauss(0.0, 1.0))))


class Durations:
    """Seeded draws: one per provider registration (by namespace), per install (by region and HA) and, when given,
    per uninstall and per new principal's replication."""

    def __init__(self, seed: int, *, registrations: Mapping[str, Lognormal],
                 installs: Mapping[tuple[str, bool], Lognormal], uninstalls: Lognormal | None = None,
                 replications: Lognormal | None = None) -> None:
        self._rng = random.Random(seed)
        self._registrations = {namespace.lower(): d for namespace, d in registrations.items()}
        self._installs = {(region.lower(), ha): d for (region, ha), d in installs.items()}
        self._uninstalls = uninstalls
        self._replications = replications

    def registration(self, subscription: str, namespace: str, default: float) -> float:
        """Seconds from the register call to `Registered` for this namespace (a benchmark may record them)."""
        distribution = self._registrations.get(namespace.lower())
        return default if distribution is None else distribution.draw(self._rng)

    def install(self, extension_id: str, region: str, settings: Mapping[str, str], default: float) -> float:
        """Seconds from the PUT to the install's end for an extension in this region with these settings."""
        distribution = self._installs.get((region.lower(), settings.get("redis-ha.enabled") == "true"))
        return default if distribution is None else distribution.draw(self._rng)

    def uninstall(self, extension_id: str, default: float) -> float:
        """Seconds from the DELETE to the extension being gone."""
        return default if self._uninstalls is None else self._uninstalls.draw(self._rng)

    def replication(self, principal_id: str, default: float) -> float:
        """Seconds from a principal's creation until role assignments can name it."""
        return default if self._replications is None else self._replications.draw(self._rng)
