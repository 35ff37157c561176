"""The main job on the local Azure: a new cluster appears as an Event Grid event and ends with Argo CD installed.

Run with `./dev demo` (it sets itself up). Prints a timeline on the simulated clock — Azure's own
waits (provider registration, cluster creation, the extension install) take simulated minutes — and
the ARM requests it took. Everything between the event and ARM is the production code path: the
real function entry points, the real Azure SDK clients over HTTPS, DefaultAzureCredential against
a local token endpoint, Azurite for the ledger.
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter
from typing import Any

from localazure.stack import SUBSCRIPTION, WORK, LocalAzure
from shared.bootstrap.argocd_extension import HA_MIN_NODES, HA_SOURCE
from shared.settings import REPOSITORY_PROFILES

RESOURCE_GROUP = "rg-platform"
#: What the gitops-bridge profile's cluster metadata reads.
TAGS = {"environment": "prod", "team": "payments", "costCenter": "4711"}


def show_rendered(settings: dict[str, str]) -> None:
    """The objects the argo-cd chart renders from the gitops keys: cluster Secret, repository Secrets, root app."""
    import yaml

    from localazure.arm import argocd_chart

    objects = argocd_chart.rendered_objects(argocd_chart.values_tree(settings))
    if objects:
        print(f"\n{'':8}  rendered by the argo-cd chart from these settings (the extension's Helm release owns them):")
        for manifest in objects:
            print("\n".join(f"{'':10}{line}" for line in ["---", *yaml.safe_dump(manifest, sort_keys=False)
                                                           .splitlines()]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    profiles = sorted(p.stem for p in REPOSITORY_PROFILES.glob("*.yaml"))
    parser.add_argument("--profile", default="default", choices=profiles,
                        help="a profile from profiles/ (workload-identity also creates the cluster's identity "
                             "and federated credentials)")
    parser.add_argument("--nodes", type=int, default=HA_MIN_NODES, help="node count of the new cluster (HA from "
                        f"{HA_MIN_NODES}: {HA_SOURCE})")
    parser.add_argument("--arc", action="store_true", help="an Azure Arc connected cluster instead of AKS")
    parser.add_argument("--hub", action="store_true", help="hub and spoke: a hub Argo CD and two new clusters, one "
                        "registered on it, one refused (demo_hub.py)")
    args = parser.parse_args()
    if args.hub:
        from demo_hub import main as hub_demo

        return hub_demo()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("argoboot").setLevel(logging.WARNING)

    with LocalAzure(settings={"DEFAULT_PROFILE": args.profile}) as az:
        t0 = az.clock()
        stamp = lambda: f"+{int(az.clock() - t0) // 60:02d}:{int(az.clock() - t0) % 60:02d}"  # noqa: E731
        if args.arc:
            event = az.arm.add_arc_cluster(SUBSCRIPTION, RESOURCE_GROUP, "arc-store-042", node_count=args.nodes,
                                           provisioning_state="Provisioning", ready_after=90, tags=TAGS)
        else:
            event = az.arm.add_aks_cluster(SUBSCRIPTION, RESOURCE_GROUP, "aks-payments-prod",
                                           node_counts=(args.nodes,), provisioning_state="Creating", ready_after=90,
                                           tags=TAGS)
        cluster_id = event["data"]["resourceUri"]
        print(f"Local Azure up: ARM emulator {az.arm.url}, Azurite, local Service Bus; profile {args.profile!r}\n")
        print(f"{stamp()}  Event Grid   {event['eventType']}  {event['data']['operationName']}")
        print(f"{'':8}             subject {event['subject']}")
        az.deliver_event(event)
        [queued] = az.bus.messages(WORK)
        print(f"{stamp()}  cluster_events  enqueued a bootstrap request (message {queued.message_id[:16]}..., "
              f"session {queued.session_id})")

        function = az.host.functions["work_items"].get_user_function()  # type: ignore[union-attr]
        last_step, repeats = "", 0

        def traced(msg: Any) -> None:
            nonlocal last_step, repeats
            before = az.services.ledger.get_cluster(cluster_id.lower())
            function(msg)
            record = az.services.ledger.get_cluster(cluster_id.lower())
            if record is None:
                return
            # The history keeps the last HISTORY_LIMIT entries: what is new is what was not there before.
            seen = {(h["at"], h["step"]) for h in before.history} if before else set()
            new = [h["step"] for h in record.history if (h["at"], h["step"]) not in seen] or \
                [record.history[-1]["step"]]
            if new == [last_step] and record.phase == "waiting":
                repeats += 1  # the same wait again: fold it into one line
                return
            if repeats:
                print(f"{'':8}     ... {repeats} more check(s), same answer")
                repeats = 0
            continuation = msg.application_properties.get("argobootContinuation")
            kind = f"continuation #{continuation}" if continuation else "request"
            print(f"{stamp()}  work_items  {kind} (delivery {msg.delivery_count})")
            for step in new:
                print(f"{'':8}     - {step}")
            last_step = new[-1]
            if record.phase == "waiting" and record.continuation_due is not None:
                print(f"{'':8}     next check in {int(record.continuation_due - az.clock())}s "
                      "(a scheduled message; this one completes now)")

        az.bus.run_until_idle(WORK, traced)
        record = az.services.ledger.get_cluster(cluster_id.lower())
        ext = az.arm.extension(cluster_id, "argocd")
        print(f"\n{stamp()}  final state: ledger phase {record.phase if record else '?'}", end="")
        if record and record.last_error_code:
            print(f", error {record.last_error_code}: {record.last_error_message}")
        else:
            print()
        if ext:
            props = ext["properties"]
            print(f"{'':8}  extension argocd ({props['extensionType']}, train {props['releaseTrain']}, "
                  f"namespace argocd): {props['provisioningState']}, version {props.get('currentVersion')}")
            print(f"{'':8}  configurationSettings {props['configurationSettings']}")
            show_rendered(props["configurationSettings"])
        for identity in az.arm.identities():
            print(f"{'':8}  managed identity {identity['name']} (client id {identity['properties']['clientId']})")
            for credential in az.arm.federated_credentials(identity["id"]):
                print(f"{'':8}    federated credential {credential['name']}: "
                      f"{credential['properties']['subject']} from {credential['properties']['issuer']}")
        counts = Counter(f"{r.method}" for r in az.arm.requests)
        print(f"\nARM requests: {len(az.arm.requests)} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
        prefix = f"/subscriptions/{SUBSCRIPTION}"
        for r in az.arm.requests:
            print(f"  {r.method:6} {r.status}  {r.path.replace(prefix, '/subscriptions/…')}")
        return 0 if record and record.phase == "succeeded" else 1


if __name__ == "__main__":
    raise SystemExit(main())
