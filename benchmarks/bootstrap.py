"""Benchmark figures: ARM requests per bootstrap and per no-op reconcile, service CPU time, cold start, and the
tutorial's manual path through the real `az` beside the service doing the same job.

Run with `./dev bench`. Prints figures; asserts nothing (the tests assert behaviour). The ARM emulator
answers at once (zero latency), so the CPU figure is the service's own work plus the in-process
emulator's; the emulator's share is measured separately and subtracted. The `az` comparison runs on two
long-lived local Azures (real time, Azure's waits divided by their speed), each from a fresh subscription
with the same cluster: one for the tutorial by hand, one for `argoboot run`.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localazure.arm.subscriptions import REGISTERED
from localazure.az_tutorial import AZ, AzCli, RequestLog, TutorialPath
from localazure.daemon import STATE_DIR_ENV, Control, DaemonState, ensure_running, stop
from localazure.stack import QUEUE, SUBSCRIPTION, LocalAzure
from shared.azure.outbox import OutgoingMessage
from shared.bootstrap.cluster_ids import session_id_of

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
              f"the poll schedule's fast start, then every "
              f"{az.services.settings.extension_poll_seconds:.0f}s at most)")
        az.arm.clear_log()
        cluster_id = later["data"]["resourceUri"]
        body = json.dumps({"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": cluster_id})
        az.bus.send(OutgoingMessage(queue=QUEUE, body=body.encode(), message_id="noop",
                                    session_id=session_id_of(later["data"]["resourceUri"].lower())))
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
    az.bus.send(OutgoingMessage(queue=QUEUE, body=body.encode(), message_id=message_id,
                                session_id=session_id_of(cluster_id.lower())))
    az.drain()


def cpu_per_cluster(clusters: int = 20) -> None:
    with LocalAzure(provider_states=REGISTERED) as az:
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


@contextmanager
def _long_lived_local_azure() -> Iterator[tuple[DaemonState, Path]]:
    """A long-lived local Azure of its own (fresh subscription) in a private folder, stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="argoboot-bench-") as folder:
        saved = os.environ.get(STATE_DIR_ENV)
        os.environ[STATE_DIR_ENV] = folder
        try:
            state, _ = ensure_running(providers="fresh")
            try:
                yield state, Path(folder)
            finally:
                stop()
        finally:
            if saved is None:
                os.environ.pop(STATE_DIR_ENV, None)
            else:
                os.environ[STATE_DIR_ENV] = saved


def _tutorial_cluster(control: Control) -> str:
    added = control.call("POST", "/clusters", {"name": "aks-tutorial", "resourceGroup": "rg-tutorial"})
    return str(added["clusterResourceId"])


def az_beside_the_service() -> None:
    """The tutorial's manual path through `az` against what the service costs for the same cluster."""
    print("\nThe tutorial by hand through the real az (2.91) vs the service, same cluster, fresh subscription each")
    if not AZ.exists():
        print("  skipped: no .venv-tools/bin/az (./dev bench installs it)")
        return
    subjects = ("system:serviceaccount:argocd:argocd-repo-server",
                "system:serviceaccount:argocd:argocd-application-controller")
    with _long_lived_local_azure() as (state, folder):
        control = Control(state)
        path = TutorialPath(AzCli(state, folder / "azure-config"), "", "rg-tutorial")
        log = RequestLog(control)

        def cluster_and_identities() -> None:
            path.aks_id = _tutorial_cluster(control)  # made after the providers, as in the tutorial
            path.cluster_and_identities(subjects)

        phases = [("sign in (cloud register, login)", path.sign_in),
                  ("providers (3 x register --wait)", path.register_providers),
                  ("cluster, identities, credentials", cluster_and_identities),
                  ("extension PUT, polls, PATCH, polls", path.install_extension)]
        whole = log.mark()
        for name, phase in phases:
            mark = log.mark()
            phase()
            print(f"  az, {name:36s}: {log.since(mark)[0].summary()}")
        whole_path = f"whole path ({len(path.az.results)} commands)"
        print(f"  az, {whole_path:36s}: {log.since(whole)[0].summary()}")
    with _long_lived_local_azure() as (state, folder):
        control = Control(state)
        cluster_id = _tutorial_cluster(control)
        log = RequestLog(control)
        mark = log.mark()
        env = dict(os.environ, **{STATE_DIR_ENV: str(folder)})
        done = subprocess.run([str(Path(sys.executable).parent / "argoboot"), "run", cluster_id, "--profile",
                               "workload-identity", "--emulator", "-o", "json"], env=env, capture_output=True,
                              text=True, check=False)
        outcome = json.loads(done.stdout).get("outcome") if done.stdout else f"exit {done.returncode}"
        print(f"  {'service, argoboot run, workload-identity':40s}: {log.since(mark)[0].summary()} ({outcome})")


def main() -> None:
    arm_requests()
    workload_identity_requests()
    cpu_per_cluster()
    cold_start()
    az_beside_the_service()


if __name__ == "__main__":
    main()
