"""What a command prints: lines for people on stdout, or one JSON document for scripts (`--output json`).

Notes (such as "started the local Azure") and errors go to stderr in both modes, so stdout stays
parseable; in JSON mode an error is also a JSON document on stdout, with the exit code in it.
"""
from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from argoboot_cli.exit_codes import CliError


class Output:
    def __init__(self, mode: str, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.json = mode == "json"
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def line(self, text: str = "") -> None:
        """A line of the text output (nothing in JSON mode)."""
        if not self.json:
            print(text, file=self.stdout, flush=True)

    def result(self, data: dict[str, Any]) -> None:
        """The JSON document (nothing in text mode: the lines were the result)."""
        if self.json:
            print(json.dumps(data, indent=2), file=self.stdout, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.stderr, flush=True)

    def error(self, error: CliError) -> None:
        print(f"argoboot: {error.code}: {error.message}", file=self.stderr, flush=True)
        if self.json:
            print(json.dumps({"error": {"code": error.code, "message": error.message}, "exitCode": int(error.exit)},
                             indent=2), file=self.stdout, flush=True)


def timestamp(epoch: float | None) -> str | None:
    """ISO 8601 in UTC, to the second."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
