"""The live view of something that takes minutes: a spinner line on a terminal, plain lines otherwise.

`run` and `submit --wait` feed it steps as they happen and ask it to wait between checks. On a
terminal the wait animates a spinner on stderr with the time spent; in a pipe or a CI log it just
sleeps, and only new steps are printed, one per line, so logs stay short.
"""
from __future__ import annotations

import time

from argoboot_cli.output import Output

_FRAMES = "|/-\\"


class Progress:
    def __init__(self, out: Output, *, live: bool | None = None) -> None:
        self._out = out
        self._live = out.stderr.isatty() if live is None else live
        self._started = time.monotonic()
        self._last: str | None = None
        self._spinning = False
        self.steps: list[str] = []  # every distinct step, in order (repeats of the last one folded)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def step(self, text: str) -> None:
        if text == self._last:
            return
        self._last = text
        self.steps.append(text)
        self._clear()
        self._out.line(f"  {self.elapsed:6.1f}s  {text}")

    def wait(self, seconds: float, why: str) -> None:
        if not self._live:
            time.sleep(seconds)
            return
        end = time.monotonic() + seconds
        frame = 0
        while (left := end - time.monotonic()) > 0:
            self._out.stderr.write(f"\r\033[K{_FRAMES[frame % len(_FRAMES)]} {why} ({self.elapsed:.0f}s)")
            self._out.stderr.flush()
            self._spinning = True
            frame += 1
            time.sleep(min(0.1, left))

    def close(self) -> None:
        self._clear()

    def _clear(self) -> None:
        if self._spinning:
            self._out.stderr.write("\r\033[K")
            self._out.stderr.flush()
            self._spinning = False
