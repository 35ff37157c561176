"""The records of staged profile rollouts, and the protocol of the storage that keeps them.

One state row per profile (which version is going out, from which, how far it got, why it stopped), one row per
profile version ever rolled out (the validated document, by digest: what lets the service keep applying a previous
version to clusters that are not in an admitted wave yet; Key Vault references only, never a secret), and one row
per cluster a rollout concerns (its wave and how it went). `shared.azure.table_rollouts.TableRollouts` keeps them in
Table storage next to the ledger; `shared.pipeline.rollout` decides with them. Writes of the state and member rows
are ETag-conditional: a stale write raises `LedgerConflict`, and the caller re-reads.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Status = Literal["running", "halted", "aborted", "completed"]
MemberStatus = Literal["waiting", "admitted", "succeeded", "failed", "gone"]  # gone: deleted under the rollout
FAILURES_LIMIT = 20  # failed clusters kept on the state row (every one is on its member row)


@dataclass(frozen=True)
class Failure:
    """A cluster that failed in a wave, with Azure's own words."""

    cluster_id: str
    wave: int
    code: str | None
    message: str | None
    at: float


@dataclass(frozen=True)
class RolloutState:
    """A profile's rollout. `stable`: the version clusters outside admitted waves keep; `passed`: the newest version
    that passed the first wave (what new clusters get); `target`: the version going out."""

    profile: str
    target: str
    stable: str
    passed: str
    wave: int = 0
    status: Status = "completed"
    opened_by: str = ""  # the sweep that opened the rollout: waves advance only in a later one
    started: float = 0.0
    updated: float = 0.0
    reason: str | None = None  # why it halted, or who aborted or resumed it
    soaking_since: float | None = None  # when the current wave was first seen done (its soak runs from then)
    failures: tuple[Failure, ...] = ()
    etag: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Member:
    """A cluster the rollout to `target` concerns: the wave it is in and how it went there."""

    cluster_key: str
    cluster_id: str
    wave: int
    status: MemberStatus = "waiting"
    code: str | None = None
    message: str | None = None
    updated: float = 0.0
    attempts_from: int | None = None  # the cluster's install attempts when it first ran this version
    etag: str | None = field(default=None, compare=False)


class RolloutStore(Protocol):
    def get_state(self, profile: str) -> RolloutState | None: ...
    def save_state(self, state: RolloutState) -> RolloutState: ...
    def list_states(self) -> list[RolloutState]: ...
    def get_version(self, profile: str, digest: str) -> Mapping[str, Any] | None: ...
    def save_version(self, profile: str, digest: str, document: Mapping[str, Any]) -> None: ...
    def list_versions(self, profile: str) -> dict[str, Mapping[str, Any]]: ...
    def members(self, profile: str, target: str) -> list[Member]: ...
    def get_member(self, profile: str, target: str, cluster_key: str) -> Member | None: ...
    def save_member(self, profile: str, target: str, member: Member) -> Member: ...
