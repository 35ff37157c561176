"""Dry runs: the reconciler's own decisions, with every Azure write recorded instead of sent.

Used by `argoboot plan`. `PlanningApi` wraps a real `ClusterApi`: reads go through (so the plan is
made from what Azure reports now), writes are answered as if Azure had accepted them and kept as
`PlannedChange`s. The reconciler runs unchanged, so the plan cannot drift from what `run` would do.
Every `ClusterApi` method must be classified here as a read or a write: mypy refuses a
`PlanningApi` that misses one where the reconciler takes a `ClusterApi`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from shared.argocd_extension import EXTENSION_NAME, ExtensionSpec, ExtensionState
from shared.cluster_facts import ClusterFacts
from shared.clusters import ClusterRef
from shared.outcome import Outcome
from shared.profiles import Profile
from shared.reconciler import ClusterApi, ProviderCache, Reconciler
from shared.settings import Settings

SettingChangeKind = Literal["add", "change", "remove", "keep"]
EXTENSIONS_NAMESPACE = "Microsoft.KubernetesConfiguration"  # where cluster extensions live


@dataclass(frozen=True)
class SettingChange:
    """One configuration setting: what the extension has now (None: unset) and what it would have."""

    key: str
    current: str | None
    desired: str | None

    @property
    def kind(self) -> SettingChangeKind:
        if self.current == self.desired:
            return "keep"
        if self.current is None:
            return "add"
        return "remove" if self.desired is None else "change"


@dataclass(frozen=True)
class PlannedChange:
    """A write the reconciler asked for: `action` names it, `target` is what it acts on."""

    action: Literal["register-provider", "create-extension", "replace-extension"]
    target: str
    detail: str
    settings: tuple[SettingChange, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What a run would do now: what it saw, the writes, and the outcome reached with them assumed done."""

    cluster: ClusterRef
    profile: str
    facts: ClusterFacts | None
    extension: ExtensionState | None
    changes: tuple[PlannedChange, ...]
    outcome: Outcome


class PlanningApi:
    """A `ClusterApi` that reads through `api` and records writes.

    Reads: provider_state, get_cluster, get_extension. Writes: register_provider, put_extension.
    """

    def __init__(self, api: ClusterApi) -> None:
        self._api = api
        self._extensions: dict[tuple[str, str], ExtensionState | None] = {}
        self.facts: dict[str, ClusterFacts | None] = {}  # by cluster key, as last read
        self._registered: set[tuple[str, str]] = set()  # (subscription, namespace) the plan registers
        self.changes: list[PlannedChange] = []

    # Reads: passed through.

    def provider_state(self, subscription: str, namespace: str) -> str:
        return self._api.provider_state(subscription, namespace)

    def get_cluster(self, cluster: ClusterRef) -> ClusterFacts | None:
        unregistered = self._registers(cluster.subscription, cluster.namespace)
        facts = self.facts[cluster.key] = None if unregistered else self._api.get_cluster(cluster)
        return facts

    def get_extension(self, cluster: ClusterRef, name: str) -> ExtensionState | None:
        unregistered = self._registers(cluster.subscription, EXTENSIONS_NAMESPACE)
        state = self._extensions[(cluster.key, name.lower())] = \
            None if unregistered else self._api.get_extension(cluster, name)
        return state

    def _registers(self, subscription: str, namespace: str) -> bool:
        """A namespace the plan registers holds no resources yet, and reading one would answer 409
        MissingSubscriptionRegistration, which azure-mgmt-core meets by registering it: a write."""
        return (subscription, namespace.lower()) in self._registered

    def extension(self, cluster: ClusterRef, name: str) -> ExtensionState | None:
        """The extension as last read (None: absent, or not read)."""
        return self._extensions.get((cluster.key, name.lower()))

    # Writes: recorded, answered as if accepted.

    def register_provider(self, subscription: str, namespace: str) -> str:
        self._registered.add((subscription, namespace.lower()))
        self.changes.append(PlannedChange("register-provider", namespace,
                                          f"register {namespace} in subscription {subscription} "
                                          "(Azure takes a few minutes; the install waits for it)"))
        return "Registered"  # assumed done, so the plan goes on to the cluster and the extension

    def put_extension(self, cluster: ClusterRef, name: str, spec: ExtensionSpec) -> ExtensionState:
        current = self.extension(cluster, name)
        before = dict(current.settings) if current is not None else {}
        keys = sorted(set(before) | set(spec.settings))
        settings = tuple(SettingChange(k, before.get(k), spec.settings.get(k)) for k in keys)
        what = f"{spec.extension_type}, release train {spec.release_train}, namespace {spec.release_namespace}"
        if current is None:
            self.changes.append(PlannedChange("create-extension", name, f"install {name} ({what})", settings))
        else:
            why = f"{current.provisioning_state}" + (f", {current.error_code}" if current.error_code else "")
            self.changes.append(PlannedChange("replace-extension", name, f"re-install {name} ({what}); "
                                              f"it is {why} now", settings))
        return ExtensionState(extension_type=spec.extension_type, provisioning_state="Creating",
                              settings=dict(spec.settings))


def make_plan(api: ClusterApi, settings: Settings, cluster: ClusterRef, profile: Profile) -> Plan:
    """One reconcile as a new request would run it (a failed install is re-installed), writes withheld."""
    planning = PlanningApi(api)
    reconciler = Reconciler(api=planning, settings=settings, providers=ProviderCache(clock=time.time, ttl=0))
    outcome = reconciler.reconcile(cluster, profile, retry_failed=True)
    return Plan(cluster=cluster, profile=profile.name, facts=planning.facts.get(cluster.key),
                extension=planning.extension(cluster, EXTENSION_NAME), changes=tuple(planning.changes),
                outcome=outcome)
