"""`argoboot run`'s loop (`follow`) on a fake clock: it waits where the poll schedule says, and gives up on
transient Azure errors after a few tries but never on a wait Azure clears by itself (a principal replicating)."""
from __future__ import annotations

import io

import pytest

from argoboot_cli.commands.run import AZURE_RETRIES, Pass, follow
from argoboot_cli.exit_codes import CliError
from argoboot_cli.output import Output
from argoboot_cli.progress import Progress
from shared.azure.ledger import Owned
from shared.bootstrap.outcome import Awaited, Outcome, Phase
from shared.bootstrap.poll_planner import PollPlanner
from shared.settings import Settings

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"


class FakeTime(Progress):
    """A progress whose waits move a clock instead of sleeping; it keeps the waits."""

    def __init__(self) -> None:
        super().__init__(Output("text", io.StringIO(), io.StringIO()), live=False)
        self.now, self.waits = 0.0, list[float]()

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float, why: str) -> None:
        self.waits.append(seconds)
        self.now += seconds


def answers(*outcomes: Outcome) -> Pass:
    """A pass that answers these outcomes in turn."""
    left = list(outcomes)

    def once(waiting_on: str | None, may_reinstall: bool, owned: Owned) -> Outcome:
        return left.pop(0)
    return once


RACE = Outcome(Phase.WAITING, ("Azure answered 400 PrincipalNotFound; retrying",), waiting_on="azure",
               awaited=Awaited("race"))
AZURE = Outcome(Phase.WAITING, ("Azure answered 503 ServiceUnavailable; retrying",), waiting_on="azure")


def test_a_principal_replicating_for_longer_than_the_retries_of_an_error_is_waited_for() -> None:
    clock = FakeTime()
    settings = Settings()
    done = follow(answers(*[RACE] * (AZURE_RETRIES + 5), Outcome(Phase.SUCCEEDED)), SUB, settings, clock, None, None,
                  PollPlanner(settings, clock))
    assert done.phase is Phase.SUCCEEDED
    assert clock.waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]  # the schedule, up to IDENTITY_RETRY_SECONDS


def test_transient_azure_errors_end_the_run_after_a_few_tries() -> None:
    clock = FakeTime()
    settings = Settings()
    with pytest.raises(CliError, match=f"gave up after {AZURE_RETRIES + 1} tries"):
        follow(answers(*[AZURE] * (AZURE_RETRIES + 5)), SUB, settings, clock, None, None, PollPlanner(settings, clock))
