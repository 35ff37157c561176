"""A clock that the emulator, the local bus and the service share, so simulated minutes pass in milliseconds.

Azure's own waits (provider registration, an extension install) are minutes long. The local Azure
measures them on this clock; the local bus advances it when nothing is ready but a scheduled message.
"""
from __future__ import annotations

import threading
import time


class VirtualClock:
    """Seconds since an arbitrary epoch; moves only when `advance` is called (thread-safe)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += seconds

    def advance_to(self, when: float) -> None:
        with self._lock:
            self._now = max(self._now, when)
