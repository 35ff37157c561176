"""The other waits of issue 14, on the queue path and on `argoboot run`'s loop: a cluster still creating when its
request arrives, an uninstall (until the extension is gone), and a new identity's principal replicating before its
AcrPull role assignment can name it (`PrincipalNotFound`). `benchmarks.latency` prints them next to installs and
registrations, poll schedule against fixed intervals.

Each kind gets its own local Azure and `clusters` clusters, one subscription each, a request (or a run, one cluster
after another) every `ARRIVAL_GAP` seconds on the virtual clock; Azure's times are drawn from seeded lognormals
(`CREATES` by region, `UNINSTALL`, `REPLICATION`). From the emulator's request log: the moment Azure was done, the
first request that saw it, and the requests about it until then (cluster GETs; extension GETs after the DELETE;
role-assignment PUT attempts, which are writes: Azure offers nothing to read whether a principal has replicated).
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from benchmarks.wait_figures import (
    ARRIVAL_GAP,
    REGIONS,
    Waits,
    outcomes,
    run_here,
    subscription_of,
    use_fixed_intervals,
)
from localazure.arm.emulator import LoggedRequest
from localazure.arm.timing import Durations, Lognormal
from localazure.azurite import Azurite
from localazure.stack import QUEUE, LocalAzure
from shared.azure.outbox import OutgoingMessage
from shared.bootstrap.cluster_ids import parse_cluster_id

#: AKS creates by region (the event arrives as the create starts), clipped to 2-15 minutes.
CREATES = {"eastus": 240.0, "westeurope": 300.0, "southeastasia": 420.0}
UNINSTALL = 60.0  # the emulator's extension_delete_seconds, as a median
REPLICATION = 20.0  # the emulator's principal_replication_seconds, as a median
RG = "rg-waits"


class _Drawn(Durations):
    """Remembers the uninstall and replication times it drew, by extension id and principal id."""

    def __init__(self, seed: int, sigma: float) -> None:
        super().__init__(seed, registrations={}, installs={},
                         uninstalls=Lognormal(UNINSTALL, sigma, 20.0, 300.0),
                         replications=Lognormal(REPLICATION, sigma, 2.0, 120.0))
        self.uninstalls: dict[str, float] = {}
        self.replications: dict[str, float] = {}

    def uninstall(self, extension_id: str, default: float) -> float:
        seconds = self.uninstalls[extension_id.lower()] = super().uninstall(extension_id, default)
        return seconds

    def replication(self, principal_id: str, default: float) -> float:
        seconds = self.replications[principal_id.lower()] = super().replication(principal_id, default)
        return seconds


@contextmanager
def _local_azure(azurite: Azurite, clusters: int, seed: int, sigma: float,
                 fixed: bool) -> Iterator[tuple[LocalAzure, _Drawn]]:
    subscriptions = tuple(subscription_of(i) for i in range(clusters))
    with LocalAzure(azurite=azurite, allowed_subscriptions=subscriptions) as az:
        if fixed:
            use_fixed_intervals(az)
        durations = az.arm.durations = _Drawn(seed, sigma)
        yield az, durations


def _request(az: LocalAzure, cluster_id: str, message_id: str, at: float, **fields: object) -> None:
    body = {"schemaVersion": 1, "clusterResourceId": cluster_id, **fields}
    az.bus.send(OutgoingMessage(queue=QUEUE, body=json.dumps(body).encode(), message_id=message_id,
                                session_id=parse_cluster_id(cluster_id).session_id, scheduled_at=at))


def _finish(az: LocalAzure, ids: list[str], phase: str, ends: list[tuple[str, str | None]] | None = None) -> None:
    """Run the queue until it is idle and say whether every cluster ended in `phase` (or every run, `ends`)."""
    if ends is not None:
        outcomes(ends, phase)
        return
    az.drain(workers=8)
    records = [az.services.ledger.get_cluster(c.lower()) for c in ids]
    outcomes([(r.phase, r.last_error_code) if r else ("missing", None) for r in records], phase)


def creates(azurite: Azurite, clusters: int, seed: int, sigma: float, fixed: bool, cli: bool) -> Waits:
    """Each cluster's create starts at its arrival, with its request (as its event would) or its run; cluster GETs
    until one sees it Succeeded."""
    rng = random.Random(seed)
    with _local_azure(azurite, clusters, seed, sigma, fixed) as (az, _):
        ids, done, ends = [], {}, []
        for i in range(clusters):
            region = REGIONS[i % len(REGIONS)]
            seconds = Lognormal(CREATES[region], sigma, 120.0, 900.0).draw(rng)
            event = az.arm.add_aks_cluster(subscription_of(i), RG, f"aks-create-{i:03d}", location=region,
                                           provisioning_state="Creating", ready_after=seconds)
            ids.append(event["data"]["resourceUri"])
            done[ids[-1].lower()] = (az.clock(), az.clock() + seconds)
            if cli:
                ends.append(run_here(az, ids[-1], fixed))
                continue
            _request(az, ids[-1], f"create-{i}", az.clock(), action="bootstrap")
            az.drain(workers=8, until=az.clock() + ARRIVAL_GAP)  # the waits so far go on until the next create
        _finish(az, ids, "succeeded", ends if cli else None)
        return _measure(az, done, lambda r: r.method == "GET", lambda path: path)


def uninstalls(azurite: Azurite, clusters: int, seed: int, sigma: float, fixed: bool, cli: bool) -> Waits:
    """Every cluster bootstrapped first; then an uninstall request for each; extension GETs after the DELETE until
    one finds it gone."""
    with _local_azure(azurite, clusters, seed, sigma, fixed) as (az, drawn):
        ids = [az.arm.add_aks_cluster(subscription_of(i), RG, f"aks-remove-{i:03d}",
                                      location=REGIONS[i % len(REGIONS)])["data"]["resourceUri"]
               for i in range(clusters)]
        for i, cluster_id in enumerate(ids):
            _request(az, cluster_id, f"install-{i}", az.clock(), action="bootstrap")
        _finish(az, ids, "succeeded")
        if cli:
            ends = [run_here(az, cluster_id, fixed, "uninstall") for cluster_id in ids]
        else:
            start = az.clock()
            for i, cluster_id in enumerate(ids):
                _request(az, cluster_id, f"remove-{i}", start + i * ARRIVAL_GAP, action="uninstall")
        _finish(az, ids, "uninstalled", ends if cli else None)
        done = {}
        for r in az.arm.requests:
            seconds = drawn.uninstalls.get(r.path.lower())
            if r.method == "DELETE" and r.status == 202 and seconds is not None:
                done[r.path.lower()] = (r.started, r.started + seconds)
        return _measure(az, done, lambda r: r.method == "GET", lambda path: path)


def replications(azurite: Azurite, clusters: int, seed: int, sigma: float, fixed: bool, cli: bool) -> Waits:
    """Workload-identity clusters with a registry to pull from: AcrPull PUTs from the identity's creation until one
    is accepted."""
    with _local_azure(azurite, clusters, seed, sigma, fixed) as (az, drawn):
        ids, ends = [], []
        for i in range(clusters):
            registry = az.arm.add_registry(subscription_of(i), RG, f"acr{i:03d}")
            ids.append(az.arm.add_aks_cluster(subscription_of(i), RG, f"aks-acr-{i:03d}",
                                              location=REGIONS[i % len(REGIONS)])["data"]["resourceUri"])
            overrides = {"containerRegistries": [registry]}
            if cli:
                ends.append(run_here(az, ids[-1], fixed, profile="workload-identity", overrides=overrides))
                az.clock.advance(ARRIVAL_GAP)  # type: ignore[attr-defined]  # a VirtualClock (run_here asserts it)
                continue
            _request(az, ids[-1], f"acr-{i}", az.clock() + i * ARRIVAL_GAP, action="bootstrap",
                     profile="workload-identity", overrides=overrides)
        _finish(az, ids, "succeeded", ends if cli else None)
        created = {r.path.lower(): r.started for r in az.arm.requests if r.method == "PUT" and r.status == 201}
        done = {}
        for identity in az.arm.identities():
            seconds = drawn.replications.get(identity["properties"]["principalId"].lower())
            if seconds is not None:
                began = created[identity["id"].lower()]
                done["/".join(identity["id"].lower().split("/")[:3])] = (began, began + seconds)
        return _measure(az, done, lambda r: r.method == "PUT" and "/roleassignments/" in r.path.lower(),
                        lambda path: "/".join(path.split("/")[:3]))


def _measure(az: LocalAzure, done: Mapping[str, tuple[float, float]],
             counts: Callable[[LoggedRequest], bool], key: Callable[[str], str]) -> Waits:
    """For each awaited thing (by `key` of a request's path): when it began and ended, and the requests that `counts`
    from its start on."""
    seen: dict[str, list[LoggedRequest]] = {}
    for r in az.arm.requests:
        if counts(r) and key(r.path.lower()) in done:
            seen.setdefault(key(r.path.lower()), []).append(r)
    waits = Waits()
    for thing, (began, finished) in done.items():
        waits.add(began, finished, [r for r in seen.get(thing, []) if r.started >= began])
    return waits


KINDS: dict[str, Callable[[Azurite, int, int, float, bool, bool], Waits]] = {
    "cluster Creating -> Succeeded": creates,
    "extension gone (uninstall)": uninstalls,
    "principal replicated (AcrPull)": replications,
}
