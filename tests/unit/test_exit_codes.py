"""The CLI's exit codes: one per way a command ends, and every pre-flight refusal exits "refused", not "failed"."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from argoboot_cli.exit_codes import MEANING, Exit, for_outcome
from shared.bootstrap.preflight import REFUSALS

BOOTSTRAP = Path(__file__).resolve().parents[2] / "shared" / "bootstrap"
#: The modules whose PermanentErrors are pre-flight refusals (reads only, before the first write).
PREFLIGHT_MODULES = ("preflight.py", "argocd_extension.py", "spoke_preflight.py", "hub.py", "hub_size.py")


def _raised_codes(module: Path) -> set[str]:
    codes = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "PermanentError" and node.args and \
                isinstance(node.args[0], ast.Constant):
            codes.add(str(node.args[0].value))
    return codes


def test_every_pre_flight_refusal_code_is_listed_as_a_refusal() -> None:
    raised = set().union(*(_raised_codes(BOOTSTRAP / name) for name in PREFLIGHT_MODULES))
    assert raised == REFUSALS, (raised - REFUSALS, REFUSALS - raised)  # every refusal listed, no stale entry


@pytest.mark.parametrize(("outcome", "error", "code"), [
    ("succeeded", None, Exit.OK),
    ("failed", "ExtensionOperationFailed", Exit.FAILED),
    ("failed", "NotEnoughNodesForHA", Exit.REFUSED),
    ("failed", "ClusterNotManagedIdentity", Exit.REFUSED),
    ("rejected", "SubscriptionNotAllowed", Exit.REFUSED),
    ("skipped", "ExtensionNotOwned", Exit.SKIPPED),
    ("skipped", None, Exit.SKIPPED),  # opted out
    ("waiting", None, Exit.WAITING),
    ("failed", "ClusterNotFound", Exit.NOT_FOUND),
])
def test_each_outcome_has_its_own_exit_code(outcome: str, error: str | None, code: Exit) -> None:
    assert for_outcome(outcome, error) is code


def test_codes_are_distinct_documented_and_clear_of_argparse() -> None:
    assert set(MEANING) == set(Exit) and len({int(c) for c in Exit}) == len(Exit)
    assert Exit.BAD_INPUT == 2  # argparse's usage error: bad arguments share it, nothing else does
    assert for_outcome("uninstalled", None, ("uninstalled", "deleted")) is Exit.OK
