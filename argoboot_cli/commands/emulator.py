"""`argoboot emulator start|stop|status|add-cluster`: the long-lived local Azure that --emulator targets.

`start` is optional (any --emulator command starts it); `add-cluster` gives a newcomer a cluster to
try `plan`, `run` and `submit` on. The process and its state file are `localazure.serve` and
`localazure.daemon`; this module only presents them.
"""
from __future__ import annotations

import argparse
from typing import Any

from argoboot_cli.exit_codes import CliError, Exit
from argoboot_cli.output import Output
from localazure.daemon import DEFAULT_SPEED, Control, ControlError, DaemonState, ensure_running, find, state_dir, stop
from shared.bootstrap.argocd_extension import HA_MIN_NODES, HA_SOURCE


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("emulator", help="start, stop or inspect the local Azure; add demo clusters",
                            description="The local Azure used by --emulator: ARM emulator, Azurite, a Service Bus "
                            "stand-in and the function app's queue worker, in one background process.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser("start", parents=[common], help="start it (if not running)")
    start.add_argument("--speed", type=float, default=DEFAULT_SPEED,
                       help=f"how many times faster Azure's own waits pass (default {DEFAULT_SPEED:g})")
    start.add_argument("--providers", choices=("fresh", "registered"), default="fresh",
                       help="the subscription's resource providers at start: fresh (default; as a new subscription: "
                       "Microsoft.ContainerService, Microsoft.Kubernetes and Microsoft.KubernetesConfiguration "
                       "NotRegistered) or registered (all of them)")
    start.set_defaults(handler=_start)
    actions.add_parser("stop", parents=[common], help="stop it (and Azurite)").set_defaults(handler=_stop)
    actions.add_parser("status", parents=[common], help="is it running, and where").set_defaults(handler=_status)
    add = actions.add_parser("add-cluster", parents=[common], help="add a cluster to try the commands on")
    add.add_argument("name", metavar="NAME", help="cluster name (1-63 letters, digits, '-' or '_')")
    add.add_argument("--nodes", type=int, default=HA_MIN_NODES, help=f"node count (default {HA_MIN_NODES}; HA needs "
                     f"at least {HA_MIN_NODES} schedulable nodes, {HA_SOURCE})")
    add.add_argument("--arc", action="store_true", help="an Azure Arc connected cluster instead of AKS")
    add.add_argument("--resource-group", default="rg-demo", help="resource group (default rg-demo)")
    add.add_argument("--creating", type=float, default=0.0, metavar="SECONDS",
                     help="still Creating for this many Azure seconds")
    add.add_argument("--service-principal", action="store_true",
                     help="an AKS cluster without managed identity (the bootstrap refuses it)")
    add.add_argument("--argocd-by-hand", metavar="CLIENT_ID",
                     help="with an argocd extension a person installed, using this workload identity client id")
    add.add_argument("--fail-installs", type=int, default=0, metavar="N",
                     help="the local Azure's next N extension installs end Failed (any cluster's: try a failure)")
    add.add_argument("--event", action="store_true",
                     help="announce it by Event Grid, so the service bootstraps it on its own")
    add.set_defaults(handler=_add_cluster)


def _describe(state: DaemonState, out: Output, headline: str) -> None:
    out.line(headline)
    out.line(f"  ARM endpoint   {state.settings.get('ARM_ENDPOINT')}")
    out.line(f"  subscription   {state.subscription} (providers at start: {state.providers})")
    out.line(f"  Azure time     x{state.speed:g}")
    out.line(f"  state          {state_dir()}")
    out.line(f"  log            {state.log}")


def _start(args: argparse.Namespace, out: Output) -> Exit:
    state, started = ensure_running(speed=args.speed, providers=args.providers)
    _describe(state, out, f"local Azure {'started' if started else 'already running'} (pid {state.pid})")
    out.result({"status": "started" if started else "running"} | state.public())
    return Exit.OK


def _stop(args: argparse.Namespace, out: Output) -> Exit:
    state = stop()
    out.line(f"local Azure stopped (pid {state.pid})" if state else "local Azure was not running")
    out.result({"status": "stopped" if state else "not running", "pid": state.pid if state else None})
    return Exit.OK


def _status(args: argparse.Namespace, out: Output) -> Exit:
    state = find()
    if state is None:
        out.line("local Azure is not running (any --emulator command starts it)")
        out.result({"status": "not running"})
        return Exit.NOT_FOUND
    _describe(state, out, f"local Azure running (pid {state.pid})")
    out.result({"status": "running"} | state.public())
    return Exit.OK


def _add_cluster(args: argparse.Namespace, out: Output) -> Exit:
    state, started = ensure_running()
    if started:
        out.note(f"started the local Azure (pid {state.pid}); `argoboot emulator stop` stops it")
    try:
        added = Control(state).call("POST", "/clusters", {
            "name": args.name, "resourceGroup": args.resource_group, "nodes": args.nodes, "arc": args.arc,
            "creatingSeconds": args.creating, "servicePrincipal": args.service_principal, "event": args.event,
            "argocdByHand": args.argocd_by_hand, "failInstalls": args.fail_installs})
    except ControlError as exc:
        raise CliError(Exit.BAD_INPUT, "InvalidCluster", str(exc)) from None
    cluster_id = added["clusterResourceId"]
    kind = "Arc" if args.arc else "AKS"
    out.line(f"added {kind} cluster {args.name} ({args.nodes} node(s)) to the local Azure:")
    out.line(f"  {cluster_id}")
    if args.event:
        out.line("Event Grid told the service; follow it with:")
        out.line(f"  argoboot status {cluster_id} --emulator")
    else:
        out.line("try:")
        for command in ("plan", "run", "submit"):
            out.line(f"  argoboot {command} {cluster_id} --emulator" + (" --wait" if command == "submit" else ""))
    out.result(added)
    return Exit.OK
