"""Exit codes scripts can rely on (`argoboot --help` lists them), and the error that carries one to `main`.

One code per way a command can end: done, failed, refused (Azure's evidence says the cluster cannot take what was
asked, or the service judged the request invalid), skipped (left alone on purpose), still waiting when the command
stopped following. 2 stays argparse's usage error, which bad arguments of ours share.
"""
from __future__ import annotations

import argparse
from enum import IntEnum

from shared.bootstrap.preflight import REFUSALS


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    NOT_FOUND = 3
    AZURE = 4
    WAITING = 5
    REFUSED = 6
    SKIPPED = 7
    INTERRUPTED = 130
    BROKEN_PIPE = 141


#: What each code means, as `--help` prints it (one source: the table below is the documentation).
MEANING = {
    Exit.OK: "done: succeeded (uninstall: uninstalled); a plan with nothing in the way",
    Exit.FAILED: "failed: the install or the request ended failed; a plan that would fail",
    Exit.BAD_INPUT: "bad arguments or input (also argparse's usage error): a malformed id, an unknown profile",
    Exit.NOT_FOUND: "not found: no such cluster in Azure, no such cluster or request in the ledger",
    Exit.AZURE: "Azure, the ledger, the queue or the local Azure unreachable, or the credential refused",
    Exit.WAITING: "still waiting (on Azure or the queue) when the command stopped following (--timeout)",
    Exit.REFUSED: "refused, nothing written: a pre-flight check on Azure's evidence, or an invalid request",
    Exit.SKIPPED: "skipped on purpose: an Argo CD extension not the service's (--adopt), an opt-out",
    Exit.INTERRUPTED: "interrupted (Ctrl-C); what Azure started goes on",
    Exit.BROKEN_PIPE: "whoever read stdout stopped reading (`| head`), as if killed by SIGPIPE",
}


def exit_codes_help(*codes: Exit) -> str:
    """The exit-code table for a parser's epilog: every code, or those `codes`."""
    return "exit codes:\n" + "\n".join(f"  {int(code):>3}  {MEANING[code]}" for code in codes or tuple(Exit))


EXIT_CODES_HELP = exit_codes_help()


class HelpFormatter(argparse.HelpFormatter):
    """argparse's, with text that has its own line breaks (the exit-code table) kept as is."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def for_outcome(outcome: str, error_code: str | None, done: tuple[str, ...] = ("succeeded",)) -> Exit:
    """The exit code of a run, plan or request that ended in `outcome` (a ledger phase or request status)."""
    if outcome in done:
        return Exit.OK
    if outcome in ("waiting", "pending", "queued"):
        return Exit.WAITING
    if outcome == "skipped":
        return Exit.SKIPPED
    if outcome == "rejected" or error_code in REFUSALS:
        return Exit.REFUSED
    if error_code == "ClusterNotFound":
        return Exit.NOT_FOUND
    return Exit.FAILED


class CliError(Exception):
    """Ends the command with `exit` and a message that says what to do; `code` is machine-readable."""

    def __init__(self, exit: Exit, code: str, message: str) -> None:
        super().__init__(message)
        self.exit = exit
        self.code = code
        self.message = message
