"""One sweep of a large converged fleet: Resource Graph's view against ARM's lists and a read per cluster (issue 28).

Run with `./dev bench sweep` (10,000 AKS clusters in 100 subscriptions); `--clusters N`, `--subscriptions N`.
Prints wall time, ARM and Resource Graph requests and messages sent for each way of reading the fleet, on the same
data; asserts nothing (tests/e2e/test_sweep_resource_graph.py asserts the behaviour on a small fleet).

The fleet is built fast, not bootstrapped one by one: one cluster is bootstrapped for real (event, reconcile,
ledger), then copied through the local ARM's set-up API (clusters, each with that cluster's extension settings)
and into the ledger in Table transactions, so every copy is converged exactly as the real one is. Resource Graph
answers with Microsoft's example quota (15 queries per 5 s per principal), so its waits are in the figure.
"""
from __future__ import annotations

import argparse
import time
import uuid
from dataclasses import dataclass, replace

from azure.identity import DefaultAzureCredential

from localazure.arm.subscriptions import REGISTERED
from localazure.stack import LocalAzure
from shared.azure.resource_graph import ResourceGraphGateway
from shared.azure.table_ledger import TableLedger
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.pipeline.sweep import Sweeper

RG = "rg-fleet"
QUOTA = (15, 5.0)  # Resource Graph's queries per window (seconds) in Microsoft's throttling guidance


@dataclass(frozen=True)
class Figures:
    wall: float
    arm: int
    graph: int
    messages: int
    clusters: int
    note: str

    def line(self, name: str) -> str:
        return (f"  {name:<15} wall {self.wall:6.1f} s   ARM requests {self.arm:6d}   Resource Graph requests "
                f"{self.graph:3d}   messages sent {self.messages:3d}   clusters seen {self.clusters}{self.note}")


def _subscriptions(count: int) -> tuple[str, ...]:
    return tuple(str(uuid.UUID(int=0x28A0000 + i)) for i in range(count))


def _fleet(az: LocalAzure, clusters: int, subscriptions: tuple[str, ...]) -> None:
    """One cluster bootstrapped for real, then `clusters - 1` converged copies of it (ARM and ledger)."""
    template_event = az.arm.add_aks_cluster(subscriptions[0], RG, "aks-00000")
    az.deliver_event(template_event)
    az.drain()
    template_id = template_event["subject"]
    record = az.services.ledger.get_cluster(template_id.lower())
    assert record is not None and record.phase == "succeeded", record
    extension = az.arm.extension(template_id, "argocd")
    assert extension is not None
    settings = extension["properties"]["configurationSettings"]
    copies = []
    for i in range(1, clusters):
        cluster_id = az.arm.add_aks_cluster(subscriptions[i % len(subscriptions)], RG, f"aks-{i:05d}")["subject"]
        az.arm.add_extension(cluster_id, "argocd", settings=settings)
        ref = parse_cluster_id(cluster_id)
        copies.append(replace(record, key=ref.key, cluster_id=ref.id, etag=None, history=(),
                              created=tuple(c.lower().replace(record.key, ref.key) for c in record.created)))
    ledger = az.services.ledger
    assert isinstance(ledger, TableLedger)
    ledger.add_clusters(copies)


def _measure(az: LocalAzure, sweeper: Sweeper, slept: list[float]) -> Figures:
    az.arm.clear_log()
    slept.clear()
    started = time.perf_counter()
    report = sweeper.run()
    wall = time.perf_counter() - started
    graph = az.arm.count("POST", "^/providers/Microsoft.ResourceGraph/resources$")
    note = f"   (quota waits {sum(slept):.1f} s)" if slept else ""
    note += f"   [{report.source}: {report.fallback}]" if report.fallback else ""
    return Figures(wall, len(az.arm.requests) - graph, graph, len(report.enqueued), report.clusters, note)


def bench(clusters: int, subscriptions: int) -> None:
    allowed = _subscriptions(subscriptions)
    with LocalAzure(allowed_subscriptions=allowed, provider_states=REGISTERED) as az:
        built = time.perf_counter()
        _fleet(az, clusters, allowed)
        built = time.perf_counter() - built
        az.arm.set_resource_graph(quota=QUOTA)
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            time.sleep(seconds)

        graph = ResourceGraphGateway(DefaultAzureCredential(), endpoint=az.arm.url, ca_bundle=az.arm.ca_path,
                                     sleep=sleep)
        with_graph = _measure(az, replace(az.services.sweeper, graph=graph), slept)
        with_arm = _measure(az, replace(az.services.sweeper, graph=None), slept)
    print(f"Sweep of a converged fleet: {clusters} AKS clusters in {subscriptions} subscriptions, nothing to do "
          f"(fleet built in {built:.1f} s)")
    print(f"  Resource Graph quota: {QUOTA[0]} queries per {QUOTA[1]:g} s; pages of 1000 rows")
    print(with_graph.line("Resource Graph"))
    print(with_arm.line("ARM listing"))
    print(f"  target: <= 60 s wall, <= 50 Resource Graph and ARM requests -> "
          f"{with_graph.wall:.1f} s, {with_graph.arm + with_graph.graph} requests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--subscriptions", type=int, default=100)
    args = parser.parse_args()
    bench(args.clusters, args.subscriptions)


if __name__ == "__main__":
    main()
