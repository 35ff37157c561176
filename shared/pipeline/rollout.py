"""Staged rollout of profile changes: which version of a profile each cluster gets while a change goes out in waves.

A profile with `rollout:` (`shared.bootstrap.rollout_plan`) does not reach the whole fleet in one sweep when its file
changes. The sweep (`Sweeper._why`) asks `admits` before it re-queues a converged cluster for a changed profile: only
clusters of the waves opened so far are; the others are left alone (no message, no PATCH). The queue's handler asks
`resolve` which version a run applies: the new one for an admitted cluster, the version it already has for one that
is not (a duplicate event, another team's request), and the newest version that passed the first wave for a new
cluster. After each run `record` notes how an admitted cluster did; failures past the plan's tolerance halt the
rollout, with Azure's messages. A wave opens the next one when all its clusters succeeded (or failed within the
tolerance), judged at the start of a sweep after the one that opened the rollout, so that the sweep has seen every
cluster of the wave first. `operate` is the operator's resume and abort (`argoboot rollout`). State, versions and
members are in `shared.azure.rollout_store` (ETag-safe).
"""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from shared.azure.ledger import ClusterRecord, LedgerConflict
from shared.azure.rollout_store import (
    FAILURES_LIMIT,
    Failure,
    Member,
    MemberStatus,
    RolloutState,
    RolloutStore,
    Status,
)
from shared.bootstrap.cluster_ids import ClusterRef, ListedCluster
from shared.bootstrap.profiles import Profile, ProfileCatalog, ProfileError, parse_profile
from shared.bootstrap.rollout_plan import RolloutPlan
from shared.errors import RequestRejected
from shared.log_context import get_logger

log = get_logger("argoboot.rollout")
CLUSTER_GONE = "ClusterNotFound"  # the reconciler's code for a cluster deleted under it: no fault of the version
_RETRIES = 5


@dataclass
class Rollouts:
    store: RolloutStore
    profiles: ProfileCatalog
    clock: Callable[[], float]
    clusters: Callable[[str], ClusterRecord | None]  # the ledger's record of a cluster, by key
    _sweep: str = ""  # the id of the sweep in progress
    _states: dict[str, RolloutState] = field(default_factory=dict)  # read once per sweep
    _members: dict[str, dict[str, Member]] = field(default_factory=dict)
    _tracked: dict[str, str] = field(default_factory=dict)  # profiles without waves: the version already kept

    def reset(self) -> None:
        """A sweep begins: each rollout is read afresh, and may advance once."""
        self._sweep, self._states, self._members = uuid.uuid4().hex, {}, {}

    # --- the sweep -------------------------------------------------------------------------------------------------

    def admits(self, cluster: ListedCluster, profile: Profile) -> bool:
        """Whether the sweep may re-queue this converged cluster for its changed profile now."""
        base = self.profiles.profiles.get(profile.name)
        if base is None:
            return True
        state = self._sweep_state(base)
        if base.rollout is None or state.status == "completed":
            return True
        members = self._members[base.name]
        wave = base.rollout.wave_of(cluster.ref.key, cluster.tags)
        member = members.get(cluster.ref.key)
        opened = state.status == "running" and wave <= state.wave
        if member is None or (member.status == "waiting" and (opened or member.wave != wave)):
            wanted = Member(cluster.ref.key, cluster.ref.id, wave, "admitted" if opened else "waiting",
                            updated=self.clock(), etag=member.etag if member else None)
            try:
                member = self.store.save_member(base.name, state.target, wanted)
            except LedgerConflict:  # another sweep wrote it first
                member = self.store.get_member(base.name, state.target, cluster.ref.key) or wanted
            members[cluster.ref.key] = member
        return state.status == "running" and member.status != "waiting"

    def _sweep_state(self, base: Profile) -> RolloutState:
        if base.name not in self._states:
            state = self._ensure(base)
            members = {m.cluster_key: m for m in self.store.members(base.name, state.target)} \
                if state.status != "completed" else {}
            self._members[base.name] = members
            self._states[base.name] = state if base.rollout is None else \
                self._advance(base.name, state, base.rollout, members)
        return self._states[base.name]

    def _advance(self, name: str, state: RolloutState, plan: RolloutPlan, members: Mapping[str, Member], *,
                 judge: bool = False) -> RolloutState:
        """Open the next waves whose predecessors are done; once per sweep, and never in the sweep that first saw
        the rollout (its members were not all known yet). `judge`: judge now (the last wave, after a run)."""
        if state.status != "running" or (state.opened_by == self._sweep and not judge):
            return state
        if not state.opened_by and not judge:
            return self._save_or_reread(replace(state, opened_by=self._sweep))
        advanced, last = state, len(plan.waves) - 1
        while True:
            wave = min(advanced.wave, last)
            in_wave = [m for m in members.values() if min(m.wave, last) == wave]
            failed = sum(m.status == "failed" for m in in_wave)
            if any(self._pending(name, m) for m in in_wave) or failed > plan.tolerated(len(in_wave)):
                advanced = replace(advanced, soaking_since=None)  # not done (any more): a soak starts again
                break
            passed = advanced.target if wave == 0 else advanced.passed
            if wave >= last:
                advanced = replace(advanced, status="completed", stable=advanced.target, passed=advanced.target,
                                   soaking_since=None)
                break
            if plan.soak_seconds and advanced.soaking_since is None:
                advanced = replace(advanced, soaking_since=self.clock())
            if plan.soak_seconds and self.clock() - (advanced.soaking_since or 0.0) < plan.soak_seconds:
                break
            advanced = replace(advanced, wave=wave + 1, passed=passed, soaking_since=None)
        if advanced == state:
            return state
        log.info("rollout of profile %r: wave %d -> %s", name, state.wave,
                 advanced.status if advanced.status == "completed" else advanced.wave)
        return self._save_or_reread(replace(advanced, updated=self.clock()))

    def _pending(self, name: str, member: Member) -> bool:
        """Whether the wave still waits for this cluster. Not for one deleted, uninstalled or moved to another
        profile since it was listed, nor for one not converged (it joins when it is, in its wave)."""
        if member.status in ("succeeded", "failed", "gone"):
            return False
        record = self.clusters(member.cluster_key)
        if record is None or record.intent == "absent" or (record.profile or self.profiles.default) != name:
            return False
        return member.status == "admitted" or record.phase == "succeeded"

    def _save_or_reread(self, state: RolloutState) -> RolloutState:
        try:
            return self.store.save_state(state)
        except LedgerConflict:  # a concurrent sweep or run moved it first: its view wins, nothing moves twice
            return self.store.get_state(state.profile) or state

    def _ensure(self, base: Profile) -> RolloutState:
        """The profile's rollout state, opening a rollout when the profile file changed since it was last seen."""
        for _ in range(_RETRIES):
            state = self.store.get_state(base.name)
            if state is not None and state.target == base.digest:
                return state
            self.store.save_version(base.name, base.digest, base.document)  # before any state names it
            now, digest = self.clock(), base.digest
            if state is None or base.rollout is None or digest == state.stable:
                # First seen (nothing to stage from), no waves, or back to the stable version: every cluster at once.
                reason = None if state is None else "applied to every cluster at once"
                opened = RolloutState(base.name, target=digest, stable=digest, passed=digest, started=now,
                                      updated=now, reason=reason, etag=state.etag if state else None)
            else:
                stable = state.target if state.status == "completed" else state.stable
                opened = replace(state, target=digest, stable=stable, wave=0, status="running", opened_by="",
                                 started=now, updated=now, reason=None, failures=(), soaking_since=None)
            try:
                saved = self.store.save_state(opened)
            except LedgerConflict:
                continue
            log.info("profile %r changed: version %s, rollout %s", base.name, digest, saved.status)
            if state is not None and state.status != "completed":  # a fix, or a roll-back, of an unfinished one
                self._carry_failed(base.name, state.target, saved.target)
            return saved
        raise LedgerConflict(f"rollout of profile {base.name!r}: gave up after {_RETRIES} conflicting writes")

    def _carry_failed(self, name: str, before: str, target: str) -> None:
        """A new version during a rollout (the fix of a broken one, or the way back to the last good one) goes
        first to the clusters the broken version failed on, with fresh install attempts: they are admitted."""
        for member in self.store.members(name, before):
            if member.status == "failed":
                with contextlib.suppress(LedgerConflict):  # written already by a concurrent opener
                    self.store.save_member(name, target, replace(member, status="admitted", code=None, message=None,
                                                                 updated=self.clock(), attempts_from=None, etag=None))

    # --- the queue's runs ------------------------------------------------------------------------------------------

    def resolve(self, name: str | None, overrides: Mapping[str, Any] | None, cluster: ClusterRef,
                record: ClusterRecord | None) -> tuple[Profile, int]:
        """The version of the profile this run applies (with the request's overrides), and the cluster's install
        attempts before it began on this version (a new version, or a resumed wave, gets its own attempts);
        RequestRejected as `ProfileCatalog.resolve` raises it."""
        current = self.profiles.resolve(name, overrides)
        base = self.profiles.profiles[current.name]
        if base.rollout is None and self._tracked.get(base.name) == base.digest:
            return current, 0
        state = self._ensure(base)  # every profile's versions are kept, so that waves added later have a start
        if base.rollout is None:
            self._tracked[base.name] = base.digest
        if base.rollout is None:
            return current, 0
        member = self.store.get_member(base.name, state.target, cluster.key)
        if member is not None and member.status != "waiting":
            return current, self._attempts_from(base.name, state.target, member, record)
        if state.status == "completed":
            return current, 0
        return self._previous(base, state, overrides, record), 0

    def _attempts_from(self, name: str, target: str, member: Member, record: ClusterRecord | None) -> int:
        if member.attempts_from is not None or record is None:
            return member.attempts_from or 0
        try:
            self.store.save_member(name, target, replace(member, attempts_from=record.attempts))
        except LedgerConflict:  # a concurrent run of the same cluster (a duplicate): the first one counts
            again = self.store.get_member(name, target, member.cluster_key)
            return (again.attempts_from if again else None) or 0
        return record.attempts

    def _previous(self, base: Profile, state: RolloutState, overrides: Mapping[str, Any] | None,
                  record: ClusterRecord | None) -> Profile:
        """For a cluster outside the open waves: the version it has, or (new) the newest that passed wave 1."""
        current = self.profiles.resolve(base.name, overrides)
        applied = record.profile_digest if record is not None and record.profile == base.name else None
        versions = self.store.list_versions(base.name)
        if applied is not None:
            for digest in sorted(versions, key=lambda d: (d != state.stable, d)):  # the stable version first
                version = self._version(base, digest, versions[digest], overrides)
                if version is not None and version.digest == applied:
                    return version
        fallback = state.passed if applied is None else state.stable  # new clusters: the newest that passed wave 1
        document = versions.get(fallback)
        version = None if document is None else self._version(base, fallback, document, overrides)
        if version is None:
            log.warning("profile %r: version %s is not stored; applying the current one", base.name, fallback)
            return current
        return version

    def _version(self, base: Profile, digest: str, document: Mapping[str, Any],
                 overrides: Mapping[str, Any] | None) -> Profile | None:
        try:
            version = parse_profile(base.name, document, source=f"profile {base.name!r} version {digest}",
                                    vault_suffix=base.vault_suffix)
            return version.with_overrides(overrides) if overrides else version
        except (ProfileError, RequestRejected) as exc:  # a version the overrides no longer fit
            log.warning("profile %r version %s does not resolve: %s", base.name, digest, exc)
            return None

    def record(self, cluster: ClusterRef, applied: Profile, record: ClusterRecord) -> None:
        """After a run: how an admitted cluster did with the new version; halt the rollout on too many failures."""
        base = self.profiles.profiles.get(applied.name)
        if base is None or base.rollout is None or record.phase not in ("succeeded", "failed"):
            return
        state = self.store.get_state(base.name)
        if state is None or state.status == "completed" or state.target != base.digest:
            return
        try:
            if applied.digest != self.profiles.resolve(base.name, record.overrides).digest:
                return  # it applied the version it had, not the one going out
        except RequestRejected:
            return
        for _ in range(_RETRIES):
            member = self.store.get_member(base.name, state.target, cluster.key)
            if member is None or member.status == "waiting":
                return
            failed = record.phase == "failed" and record.last_error_code != CLUSTER_GONE
            status: MemberStatus = "failed" if failed else "gone" if record.phase == "failed" else "succeeded"
            code = record.last_error_code if failed else None
            if (member.status, member.code) == (status, code):
                return
            try:
                self.store.save_member(base.name, state.target, replace(
                    member, status=status, code=code, message=record.last_error_message if failed else None,
                    updated=self.clock()))
            except LedgerConflict:
                continue
            if failed:
                self._halt_if_needed(base.name, base.rollout, member.wave)
            else:
                self._complete_if_done(base.name, base.rollout)
            return

    def _complete_if_done(self, name: str, plan: RolloutPlan) -> None:
        """The last wave's clusters all done: the rollout is complete (no sweep may come by to notice: none of its
        clusters differs from the profile any more). Done early, it only lets the rest have the version at once."""
        state = self.store.get_state(name)
        if state is None or state.status != "running" or state.wave < len(plan.waves) - 1:
            return
        members = {m.cluster_key: m for m in self.store.members(name, state.target)}
        self._advance(name, state, plan, members, judge=True)

    def _halt_if_needed(self, name: str, plan: RolloutPlan, wave: int) -> None:
        last = len(plan.waves) - 1
        for _ in range(_RETRIES):
            state = self.store.get_state(name)
            if state is None or state.status != "running":
                return
            in_wave = [m for m in self.store.members(name, state.target) if min(m.wave, last) == min(wave, last)]
            failed = [m for m in in_wave if m.status == "failed"]
            tolerated = plan.tolerated(len(in_wave))
            if len(failed) <= tolerated:
                return
            wave_name = plan.waves[min(wave, last)].name
            halted = replace(state, status="halted", updated=self.clock(), failures=tuple(
                Failure(m.cluster_id, m.wave, m.code, m.message, m.updated) for m in failed[:FAILURES_LIMIT]),
                reason=f"{len(failed)} of {len(in_wave)} clusters of wave {wave_name!r} failed (tolerated: "
                f"{tolerated}); fix the profile (a new version starts a new rollout) or `argoboot rollout resume "
                f"{name}` to retry this wave, `argoboot rollout abort {name}` to stop")
            try:
                self.store.save_state(halted)
            except LedgerConflict:
                continue
            log.warning("rollout of profile %r halted: %s", name, halted.reason)
            return


def operate(store: RolloutStore, name: str, action: Literal["resume", "abort"], by: str,
            clock: Callable[[], float]) -> RolloutState:
    """`resume`: a halted (or aborted) rollout runs again, the failed clusters of its waves tried and counted anew.
    `abort`: stop; no further wave opens. Clusters that got the new version keep it, the rest keep theirs, and new
    clusters get the last version that passed the first wave; revert the profile file to roll back. Idempotent: a
    duplicate finds it done. Called through `shared.pipeline.rollout_request.act` by `argoboot rollout` (the
operator's own access to the ledger), the work queue's rollout actions and the status API's admin POSTs."""
    wanted: Status = "running" if action == "resume" else "aborted"
    for _ in range(_RETRIES):
        state = store.get_state(name)
        if state is None or state.status == "completed":
            raise RequestRejected("NoRollout", f"profile {name!r} has no rollout in progress (one opens when a "
                                  "profile with rollout: changes; `argoboot rollout status` shows them)")
        if state.status == wanted:
            return state
        if action == "resume":
            for member in store.members(name, state.target):
                if member.status == "failed":
                    with contextlib.suppress(LedgerConflict):  # its run recorded it meanwhile: that stands
                        store.save_member(name, state.target, replace(
                            member, status="admitted", code=None, message=None, attempts_from=None,
                            updated=clock()))
        done = "aborted" if action == "abort" else "resumed"
        changed = replace(state, status=wanted, updated=clock(), reason=f"{done} by {by}",
                          failures=() if action == "resume" else state.failures)
        try:
            saved = store.save_state(changed)
        except LedgerConflict:
            continue
        log.info("rollout of profile %r: %s", name, saved.reason)
        return saved
    raise LedgerConflict(f"rollout of profile {name!r}: gave up after {_RETRIES} conflicting writes")
