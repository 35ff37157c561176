"""Exit codes scripts can rely on (the README lists them), and the error that carries one to `main`."""
from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # the bootstrap (or the request) ended failed or rejected; a plan that would fail
    BAD_INPUT = 2  # a malformed cluster id, an unknown profile, bad arguments, missing configuration
    NOT_FOUND = 3  # no such cluster in Azure, no such cluster or request in the ledger
    AZURE = 4  # Azure, the ledger, the queue or the local Azure could not be reached, or refused the credential
    TIMEOUT = 5  # still in progress when the command stopped following it
    INTERRUPTED = 130  # Ctrl-C
    BROKEN_PIPE = 141  # whoever read stdout stopped reading (`| head`), as if killed by SIGPIPE


class CliError(Exception):
    """Ends the command with `exit` and a message that says what to do; `code` is machine-readable."""

    def __init__(self, exit: Exit, code: str, message: str) -> None:
        super().__init__(message)
        self.exit = exit
        self.code = code
        self.message = message
