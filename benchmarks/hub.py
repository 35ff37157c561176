"""Hub and spoke at fleet scale: N new AKS clusters appear at once and each is registered on one hub (issue 25).

Run with `./dev bench hub` (200 spokes); `--spokes N`; `--helm-size`: the hub's Helm release by spokes instead
(benchmarks.hub_release_size). The hub is bootstrapped first (its own profile, `hub.serve`);
then N clusters appear as Event Grid events, with the spokes profile as the default, under ARM's limits on the
virtual clock (as `benchmarks.burst`). Prints the hub PATCHes, the makespan against its lower bound, ARM requests
per spoke, and the hub's settings size. Asserts nothing: tests/e2e/test_hub_and_spoke.py asserts the behaviour.

Lower bound: every spoke needs one role assignment write (ARM's write bucket: 200, then 10/s per subscription) and
its registration must be in a hub PATCH the hub then applies (the emulator's update time): no schedule registers
the last spoke before max(0, N - 200) / 10 s plus one hub update after the batch window.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks import hub_release_size
from localazure.arm.subscriptions import REGISTERED
from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.bootstrap.hub_batching import BATCH_WINDOW_SECONDS
from shared.bootstrap.hub_registration import REGISTRATIONS_KEY, parse_registrations
from shared.bootstrap.hub_size import registrations_budget
from shared.settings import REPOSITORY_PROFILES
from tests.e2e.helpers import send_request

LIMITS = {"reads": (250, 25.0), "writes": (200, 10.0), "deletes": (200, 10.0), "identity_creates": (10, 2.0)}
SESSIONS = 8  # host.json maxConcurrentSessions
HUB_GROUP = "rg-hub"


def profiles_dir(hub_id: str) -> Path:
    """The repository's profiles plus a hub profile and a spokes profile naming the hub."""
    directory = Path(tempfile.mkdtemp(prefix="argoboot-hub-"))
    for profile in REPOSITORY_PROFILES.glob("*.yaml"):
        shutil.copy(profile, directory)
    (directory / "hub.yaml").write_text("workloadIdentity:\n  enabled: true\n  serviceAccounts: [argocd-repo-server, "
                                        "argocd-application-controller, argocd-server]\nhub:\n  serve: true\n")
    (directory / "spokes.yaml").write_text(f"hub:\n  cluster: {hub_id}\n")
    return directory


def bench(spokes: int) -> None:
    hub_id = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{HUB_GROUP}/providers/Microsoft.ContainerService/"
              "managedClusters/aks-hub")
    directory = profiles_dir(hub_id)
    settings = {"PROFILES_DIR": str(directory), "DEFAULT_PROFILE": "spokes", "ARM_PACE_MAX_SLEEP_SECONDS": "0"}
    logging.basicConfig(level=logging.ERROR)
    try:
        with LocalAzure(settings=settings, provider_states=REGISTERED) as az:
            az.arm.throttle(**LIMITS, on_clock=True)
            hub = az.arm.add_aks_cluster(SUBSCRIPTION, HUB_GROUP, "aks-hub")
            send_request(az, hub["data"]["resourceUri"], message_id="hub", profile="hub", reply_to=None)
            az.drain()
            before = len(az.arm.requests)
            events = [az.arm.add_aks_cluster(SUBSCRIPTION, "rg-spokes", f"aks-spoke-{i:03d}") for i in range(spokes)]
            started, wall = az.clock(), time.perf_counter()
            for event in events:
                az.deliver_event(event)
            deliveries = az.drain(workers=SESSIONS, max_deliveries=200 * spokes)
            wall = time.perf_counter() - wall
            records = [az.services.ledger.get_cluster(e["data"]["resourceUri"].lower()) for e in events]
            phases = Counter(r.phase if r else "missing" for r in records)
            errors = Counter(r.last_error_code for r in records if r and r.last_error_code)
            makespan = max(r.last_changed for r in records if r) - started
            requests = az.arm.requests[before:]
            ext = az.arm.extension(hub_id, "argocd")
            hub_settings = ext["properties"]["configurationSettings"] if ext else {}
            update = az.arm.extension_update_seconds
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    patches = [r for r in requests if r.method == "PATCH" and "aks-hub" in r.path]
    size = len(hub_settings.get(REGISTRATIONS_KEY, "").encode())
    registered = len(parse_registrations(hub_settings))
    writes_bound = max(0, spokes - LIMITS["writes"][0]) / LIMITS["writes"][1]
    bound = writes_bound + BATCH_WINDOW_SECONDS + update
    kinds = Counter(r.kind for r in requests)
    print(f"Hub and spoke: {spokes} new AKS clusters at once, registered on one hub (profile spokes), "
          f"ARM limits on the virtual clock")
    print(f"  outcomes          = {dict(phases)}" + (f", errors {dict(errors)}" if errors else ""))
    if errors.get("HubFull"):
        print(f"                      {errors['HubFull']} refused HubFull: one hub's Helm release would pass "
              "Kubernetes' 1 MiB Secret (docs/hub-and-spoke.md, Limits)")
    print(f"  on the hub        = {registered} spokes")
    print(f"  hub PATCHes       = {len(patches)} ({Counter(r.status for r in patches)}); aim <= 10")
    print(f"  lower bound       = role assignment writes {writes_bound:.1f}s + batch window {BATCH_WINDOW_SECONDS:g}s "
          f"+ one hub update {update:g}s = {bound:.1f}s")
    print(f"  makespan          = {makespan:.1f}s ({makespan / bound:.2f} x the bound)")
    print(f"  ARM requests/spoke = {len(requests) / spokes:.2f}: reads {kinds['read'] / spokes:.2f}, writes "
          f"{kinds['write'] / spokes:.2f}, actions {kinds['action'] / spokes:.2f} (listClusterUserCredential)")
    limit = registrations_budget({k: v for k, v in hub_settings.items() if k != REGISTRATIONS_KEY})
    print(f"  hub settings      = {size} bytes for {registered} spokes ({size / max(registered, 1):.0f} per spoke); "
          f"limit {limit} (about {limit // max(size // max(registered, 1), 1)} spokes: ./dev bench hub --helm-size)")
    print(f"  messages handled  = {deliveries} ({deliveries / spokes:.1f} per spoke); wall time {wall:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spokes", type=int, default=200)
    if "--helm-size" in sys.argv:  # its own arguments (--spokes takes a list there)
        sys.argv.remove("--helm-size")
        hub_release_size.main()
        return
    bench(parser.parse_args().spokes)


if __name__ == "__main__":
    main()
