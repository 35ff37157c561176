"""`argoboot plan CLUSTER_ID [--profile P]`: what `run` would create or change, changing nothing.

The reconciler runs over `shared.bootstrap.planning.PlanningApi`, which sends the reads and withholds the
writes, so the plan is the run's own decisions; only GET requests reach Azure.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from argoboot_cli.exit_codes import CliError, Exit
from argoboot_cli.output import Output
from argoboot_cli.target import open_job
from shared.bootstrap.outcome import Phase
from shared.bootstrap.planning import Plan, PlannedChange, make_plan

_MARK = {"add": "+", "change": "~", "remove": "-", "keep": "="}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("plan", parents=[common], help="dry run: what run would create or change",
                            description="Show what `argoboot run` would create or change on a cluster, key by "
                            "key for the extension settings. Sends only reads (GET) to Azure.")
    parser.add_argument("cluster_id", metavar="CLUSTER_ID", help="ARM id of an AKS or Arc cluster")
    parser.add_argument("--profile", help="profile name (default: DEFAULT_PROFILE, else 'default')")
    parser.set_defaults(handler=plan)


def plan(args: argparse.Namespace, out: Output) -> Exit:
    job = open_job(args.emulator, args.cluster_id, args.profile, out)
    target, cluster, settings, profile = job.target, job.cluster, job.settings, job.profile
    result = make_plan(target.arm(settings), target.directory(settings), settings, cluster, profile,
                       target.secrets(settings))
    outcome = result.outcome
    if outcome.waiting_on == "azure":
        raise CliError(Exit.AZURE, "AzureUnavailable", outcome.steps[-1])
    _show(result, target.where, out)
    out.result(_document(result))
    if outcome.phase is Phase.FAILED:
        return Exit.NOT_FOUND if outcome.error_code == "ClusterNotFound" else Exit.FAILED
    return Exit.OK


def _show(result: Plan, where: str, out: Output) -> None:
    outcome = result.outcome
    out.line(f"Plan for {result.cluster.id}")
    out.line(f"  profile {result.profile}, on {where}; dry run: nothing is changed")
    facts, ext = result.facts, result.extension
    if facts is not None:
        identity = "managed identity" if facts.managed_identity else "service principal"
        nodes = facts.node_count if facts.node_count is not None else "unknown"
        out.line(f"  cluster: {facts.provisioning_state}, {nodes} node(s), {identity}")
    if ext is not None:
        out.line(f"  extension argocd: {ext.extension_type} {ext.provisioning_state}"
                 + (f", version {ext.version}" if ext.version else ""))
    out.line()
    if result.changes:
        out.line("Changes:")
        for change in result.changes:
            _show_change(change, out)
    else:
        out.line("No changes." + (" Extension settings:" if ext is not None and ext.settings else ""))
        for key, value in sorted((ext.settings if ext is not None else {}).items()):
            out.line(f"      = {key}: {json.dumps(value)}")
    out.line()
    if outcome.phase is Phase.FAILED:
        out.line(f"Would fail: {outcome.error_code}: {outcome.error_message}")
    elif outcome.phase is Phase.WAITING and outcome.waiting_on == "extension" and result.changes:
        out.line(f"Then: {outcome.steps[-1]} (Azure takes a few minutes)")
    elif outcome.phase is Phase.WAITING:
        out.line(f"Stops here for now: {outcome.steps[-1]}; plan again later")
    else:
        out.line(f"Nothing to do: {outcome.steps[-1] if outcome.steps else 'the cluster is bootstrapped'}")


def _show_change(change: PlannedChange, out: Output) -> None:
    mark = "-" if change.action.startswith("delete") else "~" if change.action.startswith(("replace", "update")) \
        else "+"
    out.line(f"  {mark} {change.detail}")
    for s in change.settings:
        if s.kind == "change":
            out.line(f"      ~ {s.key}: {json.dumps(s.current)} -> {json.dumps(s.desired)}")
        else:
            out.line(f"      {_MARK[s.kind]} {s.key}: {json.dumps(s.desired if s.desired is not None else s.current)}")


def _document(result: Plan) -> dict[str, Any]:
    outcome, facts, ext = result.outcome, result.facts, result.extension
    return {
        "clusterResourceId": result.cluster.id, "profile": result.profile,
        "observed": {
            "cluster": None if facts is None else {
                "provisioningState": facts.provisioning_state, "nodeCount": facts.node_count,
                "managedIdentity": facts.managed_identity, "oidcIssuerUrl": facts.oidc_issuer_url,
                "workloadIdentity": facts.workload_identity},
            "extension": None if ext is None else {
                "extensionType": ext.extension_type, "provisioningState": ext.provisioning_state,
                "version": ext.version, "settings": dict(ext.settings)}},
        "changes": [{"action": c.action, "target": c.target, "detail": c.detail,
                     "settings": [{"key": s.key, "current": s.current, "desired": s.desired, "change": s.kind}
                                  for s in c.settings]} for c in result.changes],
        "outcome": outcome.phase.value, "waitingOn": outcome.waiting_on, "steps": list(outcome.steps),
        "error": {"code": outcome.error_code, "message": outcome.error_message} if outcome.error_code else None,
    }
