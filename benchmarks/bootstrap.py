"""Benchmark figures: ARM requests per bootstrap and per no-op reconcile, service CPU time, cold start.

Run with `./dev bench`. Prints figures; asserts nothing (the tests assert behaviour). The ARM emulator
answers at once (zero latency), so the CPU figure is the service's own work plus the in-process
emulator's; the emulator's share is measured separately and subtracted.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from localazure.stack import QUEUE, SUBSCRIPTION, LocalAzure
from shared.azure.outbox import OutgoingMessage

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("azure.mgmt", "azure.servicebus", "azure.identity", "azure.data.tables", "azure.monitor", "azurefunctions",
         "uamqp", "opentelemetry", "jsonschema", "yaml")


def _summary(requests: list) -> str:  # type: ignore[type-arg]
    counts = Counter(r.method for r in requests)
    return f"{len(requests):3d}  ({', '.join(f'{m} {n}' for m, n in sorted(counts.items()))})"


def arm_requests() -> None:
    print("ARM requests (emulator request log)")
    with LocalAzure() as az:
        first = az.arm.add_aks_cluster(SUBSCRIPTION, "rg-bench", "aks-first")
        az.deliver_event(first)
        az.drain()
        print(f"  new cluster, first in its subscription : {_summary(az.arm.requests)}")
        az.arm.clear_log()
        later = az.arm.add_aks_cluster(SUBSCRIPTION, "rg-bench", "aks-later")
        az.deliver_event(later)
        az.drain()
        print(f"  new cluster, providers already cached  : {_summary(az.arm.requests)}")
        polls = sum(1 for r in az.arm.requests if r.method == "GET" and r.path.endswith("/extensions/argocd")) - 1
        print(f"    of which extension status polls     : {polls} (install {az.arm.extension_install_seconds:.0f}s, "
              f"no history yet: the poll schedule's fast start, then every "
              f"{az.services.settings.extension_poll_seconds:.0f}s at most)")
        az.arm.clear_log()
        cluster_id = later["data"]["resourceUri"]
        body = json.dumps({"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": cluster_id})
        az.bus.send(OutgoingMessage(queue=QUEUE, body=body.encode(), message_id="noop",
                                    session_id=later["data"]["resourceUri"].lower()))
        az.drain()
        print(f"  no-op reconcile of a converged cluster : {_summary(az.arm.requests)}")


def workload_identity_requests() -> None:
    """The same with the `workload-identity` profile: an identity and two federated credentials per cluster."""
    with LocalAzure() as az:
        warm = az.arm.add_aks_cluster(SUBSCRIPTION, "rg-bench", "aks-warm")  # providers cached, as in a fleet
        _request(az, warm["data"]["resourceUri"], "wi-warm")
        az.arm.clear_log()
        event = az.arm.add_aks_cluster(SUBSCRIPTION, "rg-bench", "aks-wi")
        _request(az, event["data"]["resourceUri"], "wi-1")
        print(f"  new cluster, workload-identity profile : {_summary(az.arm.requests)}")
        az.arm.clear_log()
        _request(az, event["data"]["resourceUri"], "wi-2")
        print(f"  no-op, workload-identity profile       : {_summary(az.arm.requests)}")


def _request(az: LocalAzure, cluster_id: str, message_id: str) -> None:
    body = json.dumps({"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": cluster_id,
                       "profile": "workload-identity"})
    az.bus.send(OutgoingMessage(queue=QUEUE, body=body.encode(), message_id=message_id, session_id=cluster_id.lower()))
    az.drain()


def cpu_per_cluster(clusters: int = 20) -> None:
    with LocalAzure() as az:
        az.arm.extension_install_seconds = 30
        events = [az.arm.add_aks_cluster(SUBSCRIPTION, "rg-bench", f"aks-cpu-{i}") for i in range(clusters)]
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        for event in events:
            az.deliver_event(event)
        az.drain(workers=4)
        cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
        emulator_cpu = az.arm.cpu_seconds if hasattr(az.arm, "cpu_seconds") else 0.0
        requests = len(az.arm.requests)
    print(f"\nCPU time, {clusters} new clusters, zero-latency emulator, 4 sessions at once")
    print(f"  process CPU {cpu * 1000 / clusters:.1f} ms per cluster ({requests / clusters:.1f} ARM requests each); "
          f"wall {wall:.2f}s in all")
    if emulator_cpu:
        print(f"  of which emulator {emulator_cpu * 1000 / clusters:.1f} ms per cluster")


def cold_start(runs: int = 5) -> None:
    probe = ("import sys, time; t = time.perf_counter(); import function_app; function_app.app.get_functions(); "
             "print(time.perf_counter() - t); "
             f"print(sorted({{m.split('.')[0] + '.' + m.split('.')[1] if '.' in m else m for m in sys.modules "
             f"if m.startswith({HEAVY!r})}}))")
    times, heavy = [], ""
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
        seconds, heavy = out.stdout.splitlines()
        times.append(float(seconds))
    print(f"\nCold start: import function_app + index its functions, {runs} fresh processes")
    print(f"  median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
          f"max {max(times) * 1000:.0f}); heavy SDKs imported: {heavy}")


def main() -> None:
    arm_requests()
    workload_identity_requests()
    cpu_per_cluster()
    cold_start()


if __name__ == "__main__":
    main()
