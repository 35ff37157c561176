"""The `argoboot` console script: parse the command line, run one command, map what went wrong to an exit code.

Exit codes: `argoboot_cli.exit_codes` (done 0, failed 1, bad arguments 2, not found 3, Azure unreachable 4,
still waiting 5, refused 6, skipped 7, interrupted 130, stdout closed 141); `argoboot --help` lists them.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from argoboot_cli.commands import emulator, plan, rollout, run, status, submit
from argoboot_cli.exit_codes import EXIT_CODES_HELP, CliError, Exit, HelpFormatter
from argoboot_cli.output import Output


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--emulator", action="store_true",
                        help="act on the local Azure (started in the background if not running)")
    common.add_argument("-o", "--output", choices=("text", "json"), default="text",
                        help="text for people (default) or one JSON document for scripts")
    parser = argparse.ArgumentParser(
        prog="argoboot", description="Bootstrap Argo CD on AKS and Arc clusters: run, plan, submit, status, "
        "rollout.",
        epilog=EXIT_CODES_HELP, formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (run, plan, submit, status, rollout, emulator):
        module.register(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(getattr(args, "output", "text"))
    # The Azure SDK's own warnings (each credential it tried, each retry) would bury the one line that matters.
    logging.basicConfig(level=logging.WARNING, format="argoboot: %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.CRITICAL)
    try:
        return int(args.handler(args, out))
    except CliError as exc:
        out.error(exc)
        return int(exc.exit)
    except KeyboardInterrupt:
        out.note("interrupted; whatever Azure started goes on (argoboot status shows it)")
        return int(Exit.INTERRUPTED)
    except BrokenPipeError:  # the reader went away (`| head`): end quietly, as a SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(Exit.BROKEN_PIPE)
    except Exception as exc:
        failure = _unreachable(exc)
        if failure is None:
            raise
        out.error(failure)
        return int(failure.exit)


def _unreachable(exc: Exception) -> CliError | None:
    """Azure SDK, ledger and local Azure failures that reach here: the Azure exit code, one clear line."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError

    from localazure.daemon import LocalAzureUnavailable

    if isinstance(exc, LocalAzureUnavailable):
        return CliError(Exit.AZURE, "LocalAzureUnavailable", str(exc))
    if isinstance(exc, ClientAuthenticationError):
        return CliError(Exit.AZURE, "CredentialRefused", f"{_first_line(exc)}; sign in with `az login`")
    if isinstance(exc, AzureError):
        return CliError(Exit.AZURE, type(exc).__name__, _first_line(exc))
    return None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")


if __name__ == "__main__":
    sys.exit(main())
