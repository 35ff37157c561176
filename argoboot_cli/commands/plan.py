"""`argoboot plan CLUSTER_ID [--profile P]`: what `run` would create or change, changing nothing.

The reconciler runs over `shared.bootstrap.planning.PlanningApi`, which sends the reads and withholds the
writes, so the plan is the run's own decisions; only GET requests reach Azure.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from argoboot_cli.exit_codes import CliError, Exit, HelpFormatter, exit_codes_help, for_outcome
from argoboot_cli.output import Output
from argoboot_cli.target import open_job
from shared.azure.ledger import Owned
from shared.bootstrap.cluster_shape import capacity_text
from shared.bootstrap.outcome import Phase
from shared.bootstrap.planning import Plan, PlannedChange, make_plan

_MARK = {"add": "+", "change": "~", "remove": "-", "keep": "="}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("plan", parents=[common], help="dry run: what run would create or change",
                            description="Show what `argoboot run` would create or change on a cluster, key by "
                            "key for the extension settings. Sends only reads (GET) to Azure.",
                            epilog=exit_codes_help(*(c for c in Exit if c is not Exit.WAITING)),
                            formatter_class=HelpFormatter)
    parser.add_argument("cluster_id", metavar="CLUSTER_ID", help="ARM id of an AKS or Arc cluster")
    parser.add_argument("--profile", help="profile name (default: DEFAULT_PROFILE, else 'default')")
    parser.add_argument("--adopt", action="store_true",
                        help="plan taking over an Argo CD extension the service did not create (run --adopt)")
    parser.add_argument("--reinstall", action="store_true",
                        help="plan removing a 0.0.x Argo CD extension, and every Application with it, to install "
                        "1.x (run --reinstall)")
    parser.set_defaults(handler=plan)


def plan(args: argparse.Namespace, out: Output) -> Exit:
    job = open_job(args.emulator, args.cluster_id, args.profile, out)
    target, cluster, settings, profile = job.target, job.cluster, job.settings, job.profile
    api, directory, secrets = target.arm(settings), target.directory(settings), target.secrets(settings)
    # What the service owns, read from the ledger as `run` and the queue read it: one decision, the same inputs.
    ledger = Owned.of(target.ledger().get_cluster(cluster.key)) if target.has_ledger else Owned()
    hubs = target.hub_protection(settings, secrets, records=False)  # a spoke's hub PATCH shows the hub's protected
    result = make_plan(api, directory, settings, cluster, profile, secrets, adopt=args.adopt,
                       reinstall=args.reinstall, ledger=ledger, hub_protection=hubs)
    outcome = result.outcome
    if outcome.waiting_on == "azure":
        raise CliError(Exit.AZURE, "AzureUnavailable", outcome.steps[-1])
    _show(result, target.where, out)
    document = _document(result)
    if outcome.error_code == "ExtensionNotOwned":  # show what adopting it would change
        adopted = make_plan(api, directory, settings, cluster, profile, secrets, adopt=True,
                            reinstall=args.reinstall, ledger=ledger, hub_protection=hubs)
        out.line()
        out.line(f"If adopted (argoboot run {cluster.id} --adopt):")
        for change in adopted.changes:
            _show_change(change, out)
        if not adopted.changes:
            out.line(f"  nothing would change: {adopted.outcome.steps[-1] if adopted.outcome.steps else ''}")
        document["ifAdopted"] = _document(adopted)
    out.result(document)
    # A plan that stops at a wait (the install Azure would run, a cluster still being created) is fine: 0.
    return for_outcome(outcome.phase.value, outcome.error_code, (Phase.SUCCEEDED.value, Phase.WAITING.value))


def _show(result: Plan, where: str, out: Output) -> None:
    outcome = result.outcome
    out.line(f"Plan for {result.cluster.id}")
    out.line(f"  profile {result.profile}, on {where}; dry run: nothing is changed")
    facts, ext = result.facts, result.extension
    if facts is not None:
        # Arc agents always use the cluster's own identity: what the plan read there is their connectivity.
        identity = (f"agents {facts.connectivity_status or 'connectivity unknown'}" if result.cluster.kind == "arc"
                    else "managed identity" if facts.managed_identity else "identity unknown"
                    if facts.managed_identity is None else "service principal")
        shape = f", Kubernetes {facts.kubernetes_version}" if facts.kubernetes_version else ""
        sku = ", AKS Automatic" if (facts.sku or "").lower() == "automatic" else ""
        out.line(f"  cluster: {facts.provisioning_state}, {capacity_text(facts)}, {identity}{shape}{sku}")
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
    elif outcome.phase is Phase.SKIPPED:
        out.line(f"Would skip: {outcome.error_code or 'skipped'}: {outcome.error_message or outcome.steps[-1]}")
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
                "argocdNodeCount": facts.argocd_nodes,
                "managedIdentity": facts.managed_identity if result.cluster.kind == "aks" else None,
                "connectivityStatus": facts.connectivity_status, "kubernetesVersion": facts.kubernetes_version,
                "sku": facts.sku, "oidcIssuerUrl": facts.oidc_issuer_url,
                "workloadIdentity": facts.workload_identity},
            "extension": None if ext is None else {
                "name": ext.name, "extensionType": ext.extension_type, "provisioningState": ext.provisioning_state,
                "version": ext.version, "pinnedVersion": ext.pinned_version, "settings": dict(ext.settings)}},
        "changes": [{"action": c.action, "target": c.target, "detail": c.detail,
                     "settings": [{"key": s.key, "current": s.current, "desired": s.desired, "change": s.kind}
                                  for s in c.settings]} for c in result.changes],
        "outcome": outcome.phase.value, "waitingOn": outcome.waiting_on, "steps": list(outcome.steps),
        "error": {"code": outcome.error_code, "message": outcome.error_message} if outcome.error_code else None,
    }
