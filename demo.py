"""The main job on the local Azure: a new cluster appears as an Event Grid event and ends with Argo CD installed.

Run with `./dev demo` (it sets itself up). Prints a timeline on the simulated clock — Azure's own
waits (provider registration, cluster creation, the extension install) take simulated minutes —
then the extension's settings, the ARM requests it took, and last the final state and the outcome.
Everything between the event and ARM is the production code path: the real function entry points,
the real Azure SDK clients over HTTPS, DefaultAzureCredential against a local token endpoint,
Azurite for the ledger. Exits as `argoboot` does (0 succeeded, 1 failed, 6 refused, ...).
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter
from typing import Any

import yaml

from argoboot_cli.exit_codes import MEANING, Exit, for_outcome
from localazure.stack import SUBSCRIPTION, WORK, LocalAzure
from shared.bootstrap.argocd_extension import HA_MIN_NODES, HA_SOURCE
from shared.settings import REPOSITORY_PROFILES

RESOURCE_GROUP = "rg-platform"
#: What the gitops-bridge profile's cluster metadata reads.
TAGS = {"environment": "prod", "team": "payments", "costCenter": "4711"}
#: `az aks create --node-count`'s default (learn.microsoft.com/cli/azure/aks#az-aks-create): one below HA's 4.
DEFAULT_NODES = 3
#: A system node pool holds at least 1 node (learn.microsoft.com/azure/aks/manage-node-pools, "Limitations") and at
#: most 1,000 (learn.microsoft.com/azure/aks/quotas-skus-regions, "Maximum nodes per node pool").
MIN_NODES, MAX_NODES = 1, 1000
CREATE_SECONDS = 90  # how long the new cluster stays Creating (Azure's seconds, simulated)


def node_count(text: str) -> int:
    """--nodes: a whole number AKS would accept for the cluster's one node pool."""
    try:
        nodes = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of nodes") from None
    if not MIN_NODES <= nodes <= MAX_NODES:
        raise argparse.ArgumentTypeError(f"{nodes} nodes: AKS takes {MIN_NODES} to {MAX_NODES} nodes in a node pool")
    return nodes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    profiles = sorted(p.stem for p in REPOSITORY_PROFILES.glob("*.yaml"))
    parser.add_argument("--profile", default="default", choices=profiles,
                        help="a profile from profiles/ (workload-identity also creates the cluster's identity "
                             "and federated credentials)")
    parser.add_argument("--nodes", type=node_count, default=DEFAULT_NODES,
                        help=f"node count of the new cluster, {MIN_NODES} to {MAX_NODES} (HA needs at least "
                        f"{HA_MIN_NODES}: {HA_SOURCE})")
    parser.add_argument("--arc", action="store_true", help="an Azure Arc connected cluster instead of AKS")
    parser.add_argument("--requests", action="store_true", help="also list every ARM request the service sent")
    parser.add_argument("--rendered", action="store_true",
                        help="also print the objects the argo-cd chart renders from the settings (gitops keys)")
    parser.add_argument("--hub", action="store_true", help="hub and spoke: a hub Argo CD and two new clusters, one "
                        "registered on it, one refused (demo_hub.py)")
    return parser.parse_args(argv)


def show_rendered(settings: dict[str, str]) -> None:
    """The objects the argo-cd chart renders from the gitops keys: cluster Secret, repository Secrets, root app."""
    from localazure.arm import argocd_chart

    objects = argocd_chart.rendered_objects(argocd_chart.values_tree(settings))
    if objects:
        print("\nrendered by the argo-cd chart from these settings (the extension's Helm release owns them):")
        for manifest in objects:
            print("\n".join(f"  {line}" for line in ["---", *yaml.safe_dump(manifest, sort_keys=False).splitlines()]))


class _SettingsDumper(yaml.SafeDumper):
    """YAML with a multi-line value (a manifest in extraObjects) as a literal block, not one escaped line."""


_SettingsDumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


def settings_yaml(settings: dict[str, str]) -> list[str]:
    """The extension's configurationSettings as YAML, one key a line (a manifest's lines indented under its key)."""
    text = yaml.dump(settings, Dumper=_SettingsDumper, sort_keys=False, width=10**6)
    return [f"  {line}" for line in text.splitlines()]


class Timeline:
    """Prints one line per message that changed something; repeats of the same wait fold into one line that lists
    the gaps between their checks (the poll schedule at work)."""

    def __init__(self, az: LocalAzure, cluster_id: str, stamp: Any) -> None:
        self.az, self.cluster_id, self.stamp = az, cluster_id.lower(), stamp
        self.last_step = ""
        self.gaps: list[float] = []  # of the checks folded since the last printed line
        self.created_by = 0  # ARM requests sent until the last check that found the cluster still being created

    def __call__(self, msg: Any, function: Any) -> None:
        ledger = self.az.services.ledger
        before = ledger.get_cluster(self.cluster_id)
        function(msg)
        record = ledger.get_cluster(self.cluster_id)
        if record is None:
            return
        # The history keeps the last HISTORY_LIMIT entries: what is new is what was not there before.
        seen = {(h["at"], h["step"]) for h in before.history} if before else set()
        new = [h["step"] for h in record.history if (h["at"], h["step"]) not in seen] or [record.history[-1]["step"]]
        if record.waiting_on == "cluster" and new[-1].startswith("cluster is "):
            self.created_by = len(self.az.arm.requests)
        gap = record.continuation_due - self.az.clock() if record.continuation_due is not None else None
        if new == [self.last_step] and record.phase == "waiting" and gap is not None:
            self.gaps.append(gap)  # the same wait again: folded
            return
        self.flush()
        continuation = msg.application_properties.get("argobootContinuation")
        kind = f"continuation #{continuation}" if continuation else "request"
        print(f"{self.stamp()}  work_items  {kind}")
        for step in new:
            print(f"{'':8}  - {step}")
        self.last_step = new[-1]
        if record.phase == "waiting" and gap is not None:
            print(f"{'':8}  next check in {gap:.1f}s")

    def flush(self) -> None:
        if self.gaps:
            print(f"{'':8}  ... {len(self.gaps)} more check(s), same answer; next checks after "
                  f"{', '.join(f'{g:.1f}' for g in self.gaps)} s")
            self.gaps = []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.hub:
        from demo_hub import main as hub_demo

        return hub_demo()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("argoboot").setLevel(logging.WARNING)

    with LocalAzure(settings={"DEFAULT_PROFILE": args.profile}) as az:
        t0 = az.clock()
        stamp = lambda: f"+{int(az.clock() - t0) // 60:02d}:{int(az.clock() - t0) % 60:02d}"  # noqa: E731
        kind = "Arc" if args.arc else "AKS"
        if args.arc:
            event = az.arm.add_arc_cluster(SUBSCRIPTION, RESOURCE_GROUP, "arc-store-042", node_count=args.nodes,
                                           provisioning_state="Provisioning", ready_after=CREATE_SECONDS, tags=TAGS)
        else:
            event = az.arm.add_aks_cluster(SUBSCRIPTION, RESOURCE_GROUP, "aks-payments-prod",
                                           node_counts=(args.nodes,), provisioning_state="Creating",
                                           ready_after=CREATE_SECONDS, tags=TAGS)
        cluster_id = event["data"]["resourceUri"]
        name = cluster_id.rsplit("/", 1)[-1]
        print(f"Local Azure up (ARM emulator {az.arm.url}, Azurite, local Service Bus). A new {kind} cluster "
              f"{name},\n{args.nodes} node(s), still being created for {CREATE_SECONDS} s; profile {args.profile!r}.\n")
        print(f"{stamp()}  Event Grid  {event['eventType']} ({event['data']['operationName']})")
        az.deliver_event(event)
        [queued] = az.bus.messages(WORK)
        print(f"{stamp()}  cluster_events  enqueued a bootstrap request (session {queued.session_id[:24]}...)")

        function = az.host.functions["work_items"].get_user_function()  # type: ignore[union-attr]
        timeline = Timeline(az, cluster_id, stamp)
        az.bus.run_until_idle(WORK, lambda msg: timeline(msg, function))
        timeline.flush()
        record = az.services.ledger.get_cluster(cluster_id.lower())
        ext = az.arm.extension(cluster_id, "argocd")
        if ext:
            print("\nextension settings (configurationSettings):")
            print("\n".join(settings_yaml(ext["properties"]["configurationSettings"])))
            if args.rendered:
                show_rendered(ext["properties"]["configurationSettings"])
        for identity in az.arm.identities():
            print(f"managed identity {identity['name']} (client id {identity['properties']['clientId']})")
            for credential in az.arm.federated_credentials(identity["id"]):
                print(f"  federated credential {credential['name']}: {credential['properties']['subject']}")
        requests = az.arm.requests
        if args.requests:
            prefix = f"/subscriptions/{SUBSCRIPTION}"
            print()
            for r in requests:
                print(f"  {r.method:6} {r.status}  {r.path.replace(prefix, '/subscriptions/…')}")
        counts = Counter(r.method for r in requests)
        created = timeline.created_by
        print(f"\nARM requests: {len(requests)} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})"
              + ("" if args.requests else "; --requests lists them"))
        print(f"  {created} waiting for the cluster's create (reads of the cluster on the poll schedule until it was "
              f"ready)\n  {len(requests) - created} for the bootstrap itself (providers, checks, the install and its "
              "reads)")
        return outcome(record, ext, stamp())


def outcome(record: Any, ext: dict[str, Any] | None, at: str) -> int:
    """The last lines: the final state and the outcome, with the exit code it means."""
    phase = record.phase if record else "unknown"
    error = record.last_error_code if record else None
    state = f"ledger phase {phase}"
    if ext:
        props = ext["properties"]
        state += (f"; extension argocd ({props['extensionType']}, train {props['releaseTrain']}): "
                  f"{props['provisioningState']}, version {props.get('currentVersion')}")
    else:
        state += "; no extension argocd on the cluster"
    print(f"\n{at}  final state: {state}")
    code = for_outcome(phase, error)
    word = MEANING[code].split(":")[0].split(",")[0]
    if code is Exit.OK:
        ha = (ext or {}).get("properties", {}).get("configurationSettings", {}).get("redis-ha.enabled") == "true"
        print(f"outcome: {phase}: Argo CD installed, {'HA (redis-ha)' if ha else 'not HA (one replica of redis)'} "
              f"(exit {int(code)})")
    else:
        print(f"outcome: {word}: {error}: {record.last_error_message if record else ''} (exit {int(code)})")
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
