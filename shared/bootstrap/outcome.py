"""What one reconcile run ended in: the ledger records it, the handler settles and replies from it."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    PENDING = "pending"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNINSTALLED = "uninstalled"  # removed on request; the cluster stays
    DELETED = "deleted"  # the cluster is gone, and what the service created for it too
    SKIPPED = "skipped"  # the cluster opted out by its tag, or its Argo CD extension is not the service's


@dataclass(frozen=True)
class Awaited:
    """What a WAITING run waits for, so the poll schedule can time it (`shared.bootstrap.poll_schedule`): `kind`
    (install, update, uninstall, providers, create, cluster, race, azure, throttled: its cap), `began`: this run
    started what is awaited (a PUT, a register), so the wait's clock starts now; `since`: when what is awaited began,
    when Azure says so (a cluster's `systemData.createdAt` while it is created): the wait's clock starts then."""

    kind: str
    began: bool = False
    since: float | None = None


@dataclass(frozen=True)
class Outcome:
    """`steps` lists what this run observed and did, in order, for the timeline, the ledger and the reply;
    `installs` counts the extension installs it started (the ledger's attempt counter); `created` names the
    resources it created; `actions_required` says what only a person can do (e.g. a Graph permission the
    service was not given). A WAITING outcome says what it awaits; `retry_after` is set only when Azure (or the
    pacer's reserved slot) said when to come back: otherwise the poll schedule decides."""

    phase: Phase
    steps: tuple[str, ...] = ()
    waiting_on: str | None = None
    retry_after: float | None = None
    awaited: Awaited | None = None
    error_code: str | None = None
    error_message: str | None = None
    installs: int = 0
    created: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    config_hash: str | None = None
    actions_required: tuple[str, ...] = ()
    protected_hash: str | None = None  # of the protected settings this run found applied or sent
    extension_seen: str | None = None  # the extension's lastModifiedAt, once this run found it converged
    gitops_root: dict[str, str | bool] | None = None  # the root Application's repo, path, revision, applied

    @property
    def terminal(self) -> bool:
        return self.phase is not Phase.WAITING


class Run:
    """Collects the steps of one reconcile (and the resources it created) and builds its outcome."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.created: list[str] = []
        self.removed: list[str] = []
        self.installs = 0
        self.config_hash: str | None = None
        self.actions_required: list[str] = []
        self.protected_hash: str | None = None
        self.extension_seen: str | None = None
        self.gitops_root: dict[str, str | bool] | None = None
        self.created_principal = False  # this run created an identity: its principal's replication starts now

    def step(self, text: str) -> None:
        self.steps.append(text)

    def wait(self, on: str, why: str, awaited: Awaited, retry_after: float | None = None) -> Outcome:
        return self._outcome(Phase.WAITING, (*self.steps, why), waiting_on=on, retry_after=retry_after,
                             awaited=awaited)

    def fail(self, code: str, message: str) -> Outcome:
        return self._outcome(Phase.FAILED, (*self.steps, f"failed: {code}"), error_code=code, error_message=message)

    def skip(self, code: str, message: str) -> Outcome:
        """Left alone on purpose, with why and what would change that (e.g. a foreign extension: adopt it)."""
        return self._outcome(Phase.SKIPPED, (*self.steps, f"skipped: {code}"), error_code=code, error_message=message)

    def done(self, phase: Phase = Phase.SUCCEEDED) -> Outcome:
        return self._outcome(phase, tuple(self.steps))

    def _outcome(self, phase: Phase, steps: tuple[str, ...], *, waiting_on: str | None = None,
                 retry_after: float | None = None, awaited: Awaited | None = None, error_code: str | None = None,
                 error_message: str | None = None) -> Outcome:
        return Outcome(phase, steps, waiting_on=waiting_on, retry_after=retry_after, awaited=awaited,
                       error_code=error_code,
                       error_message=error_message, installs=self.installs, created=tuple(self.created),
                       removed=tuple(self.removed), config_hash=self.config_hash,
                       actions_required=tuple(self.actions_required), protected_hash=self.protected_hash,
                       extension_seen=self.extension_seen, gitops_root=self.gitops_root)
