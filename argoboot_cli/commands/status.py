"""`argoboot status [CLUSTER_ID | --request ID | --phase PHASE]`: what the ledger says.

One cluster's record (phase, what it waits on, last error, recent steps), one request's row, or
the list of clusters, all or in one phase. Reads only; the ledger is the service's Table storage
(LEDGER_TABLE_ENDPOINT with your credential) or the local Azure's Azurite.
"""
from __future__ import annotations

import argparse
from typing import Any

from argoboot_cli.commands.rollout import rollout_views
from argoboot_cli.commands.rollout import show as show_rollout
from argoboot_cli.exit_codes import CliError, Exit
from argoboot_cli.output import Output, timestamp
from argoboot_cli.target import Target, parse_cluster
from shared.azure.ledger import ClusterRecord, RequestRecord
from shared.azure.table_ledger import TableLedger
from shared.bootstrap.outcome import Phase
from shared.pipeline.hub_view import registered_on, spokes_of


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("status", parents=[common], help="read the ledger: a cluster, a request, or a list",
                            description="Show one cluster's record, one request, or the clusters (all, or in "
                            "one phase) from the service's ledger.")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("cluster_id", metavar="CLUSTER_ID", nargs="?", help="ARM id of an AKS or Arc cluster")
    which.add_argument("--request", metavar="ID", help="a request id (from submit, run, or another service)")
    which.add_argument("--phase", choices=[p.value for p in Phase], help="list the clusters in this phase")
    parser.set_defaults(handler=status)


def status(args: argparse.Namespace, out: Output) -> Exit:
    target = Target.open(args.emulator, out)
    if args.cluster_id:
        cluster = parse_cluster(args.cluster_id)
        record = target.ledger().get_cluster(cluster.key)
        if record is None:
            raise CliError(Exit.NOT_FOUND, "ClusterNotInLedger", f"the ledger has no record of {cluster.id}: "
                           "the service has not seen it (submit or run it)")
        spokes = spokes_of(record.key, target.ledger().list_clusters())
        _show_cluster(record, out, spokes)
        out.result({"cluster": cluster_document(record) | ({"spokes": spokes} if spokes else {})})
    elif args.request:
        ledger = target.ledger()
        request = ledger.get_request(args.request)
        if request is None:
            raise CliError(Exit.NOT_FOUND, "RequestNotFound", f"the ledger has no request {args.request!r} "
                           "(not sent, not picked up yet, or past its retention)")
        _show_request(request, ledger, out)
        out.result({"request": request_document(request)})
    else:
        records = target.ledger().list_clusters(args.phase)
        _show_list(records, args.phase, out)
        rollouts = rollout_views(target.ledger().rollouts, unfinished=True)  # staged profile changes under way
        for view in rollouts:
            show_rollout(view, out)
        out.result({"phase": args.phase, "clusters": [cluster_document(r) for r in records]}
                   | ({"rollouts": rollouts} if rollouts else {}))
    return Exit.OK


def cluster_document(record: ClusterRecord) -> dict[str, Any]:
    error = {"code": record.last_error_code, "message": record.last_error_message} if record.last_error_code else None
    return {"clusterResourceId": record.cluster_id, "kind": record.kind, "phase": record.phase,
            "waitingOn": record.waiting_on, "profile": record.profile, "attempts": record.attempts,
            "lastError": error, "lastRequestId": record.last_request_id, "firstSeen": timestamp(record.first_seen),
            "lastChanged": timestamp(record.last_changed), "gitopsRoot": record.gitops_root,
            "registeredOn": registered_on(record),
            "history": [{"at": timestamp(h["at"]), "step": h["step"]} for h in record.history]}


def request_document(request: RequestRecord) -> dict[str, Any]:
    error = {"code": request.error_code, "message": request.error_message} if request.error_code else None
    return {"requestId": request.request_id, "clusterKey": request.cluster_key or None, "action": request.action,
            "status": request.status, "error": error, "created": timestamp(request.created),
            "updated": timestamp(request.updated)}


def _show_cluster(record: ClusterRecord, out: Output, spokes: list[dict[str, str]] | None = None) -> None:
    out.line(record.cluster_id)
    rows = [("phase", record.phase + (f" (waiting on {record.waiting_on})" if record.waiting_on else "")),
            ("profile", record.profile or "-"), ("attempts", str(record.attempts)),
            ("last error", f"{record.last_error_code}: {record.last_error_message}" if record.last_error_code
             else "-"),
            ("last request", record.last_request_id or "-"), ("first seen", timestamp(record.first_seen) or "-"),
            ("last changed", timestamp(record.last_changed) or "-")]
    if record.gitops_root:
        root = record.gitops_root
        rows.append(("root app", f"{root['repoURL']} {root['path']}@{root['targetRevision']} "
                     f"({'applied' if root['applied'] else 'not applied yet'})"))
    rows += [("hub", f"registered on hub {entry['hub'].rsplit('/', 1)[-1]} as {entry['name']}")
             for entry in registered_on(record)]
    if spokes:
        rows.append(("spokes", f"{len(spokes)}: " + ", ".join(f"{s['name']} ({s['phase']})" for s in spokes)))
    for name, value in rows:
        out.line(f"  {name:<13} {value}")
    if record.history:
        out.line("  history:")
        for entry in record.history:
            out.line(f"    {timestamp(entry['at'])}  {entry['step']}")


def _show_request(request: RequestRecord, ledger: TableLedger, out: Output) -> None:
    cluster = ledger.get_cluster(request.cluster_key) if request.cluster_key else None
    out.line(f"request {request.request_id}")
    rows = [("status", request.status), ("action", request.action),
            ("cluster", cluster.cluster_id if cluster is not None else request.cluster_key or "-"),
            ("error", f"{request.error_code}: {request.error_message}" if request.error_code else "-"),
            ("created", timestamp(request.created) or "-"), ("updated", timestamp(request.updated) or "-")]
    for name, value in rows:
        out.line(f"  {name:<8} {value}")


def _show_list(records: list[ClusterRecord], phase: str | None, out: Output) -> None:
    if not records:
        out.line(f"no clusters{f' in phase {phase}' if phase else ''} in the ledger")
        return
    out.line(f"{'PHASE':<10} {'WAITING ON':<11} {'LAST CHANGED':<21} CLUSTER")
    for r in records:
        out.line(f"{r.phase:<10} {r.waiting_on or '-':<11} {timestamp(r.last_changed) or '-':<21} {r.cluster_id}")
        if r.last_error_code:
            out.line(f"{'':<44}{r.last_error_code}: {r.last_error_message}")
    out.line(f"{len(records)} cluster(s)")
