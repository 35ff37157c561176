"""`argoboot submit CLUSTER_ID [--profile P] [--wait]`: ask the service, through its queue, as another service would.

The message is a schema v1 install request on the cluster's session (`ClusterRef.session_id`, one
cluster's requests in order) and message id = the request id (Service Bus drops a resend within
its duplicate window). With --wait, the request's row in the ledger is followed until it ends;
the cluster's new steps are shown as the service records them.
"""
from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

from argoboot_cli.exit_codes import EXIT_CODES_HELP, CliError, Exit, HelpFormatter, for_outcome
from argoboot_cli.output import Output
from argoboot_cli.progress import Progress
from argoboot_cli.target import Target, parse_cluster, profile_for
from shared.azure.ledger import ClusterRecord, RequestRecord
from shared.azure.outbox import OutgoingMessage
from shared.azure.table_ledger import TableLedger
from shared.bootstrap.cluster_ids import ClusterRef
from shared.errors import RequestRejected
from shared.pipeline.install_request import InstallRequest, parse_install_request
from shared.pipeline.replies import reply_refusal
from shared.untrusted import echo

_CLUSTER_ROW_GRACE = 3.0  # seconds to wait for the cluster row once the request row says the run ended
ENDED = ("succeeded", "failed", "rejected", "uninstalled", "deleted", "skipped")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("submit", parents=[common], help="post an install request to the service's queue",
                            description="Post a bootstrap request to the service's queue; with --wait, follow it "
                            "in the ledger until it ends.", epilog=EXIT_CODES_HELP,
                            formatter_class=HelpFormatter)
    parser.add_argument("cluster_id", metavar="CLUSTER_ID", help="ARM id of an AKS or Arc cluster")
    parser.add_argument("--profile", help="profile name (default: the service's DEFAULT_PROFILE)")
    parser.add_argument("--wait", action="store_true", help="follow the request until it succeeds or fails")
    parser.add_argument("--timeout", type=float, default=1800.0, metavar="SECONDS",
                        help="with --wait: stop following after this long (exit 5, still waiting); default 1800")
    parser.add_argument("--request-id", help="your own request id (default: cli-<random>); resending one is a no-op")
    parser.add_argument("--reply-to", metavar="QUEUE", help="queue for the service's reply (optional)")
    parser.set_defaults(handler=submit)


def submit(args: argparse.Namespace, out: Output) -> Exit:
    target = Target.open(args.emulator, out)
    cluster = parse_cluster(args.cluster_id)
    settings = target.settings(cluster)
    if args.profile:
        profile_for(args.profile, settings)  # refused here rather than dead-lettered there
    problem = reply_refusal(args.reply_to, settings) if args.reply_to else None
    if problem is not None:  # the service would not answer there
        raise CliError(Exit.BAD_INPUT, "InvalidReplyTo", f"--reply-to {echo(args.reply_to)} {problem}")
    request_id = args.request_id or f"cli-{uuid.uuid4().hex[:12]}"
    body = json.dumps(InstallRequest(request_id=request_id, action="bootstrap", cluster=cluster,
                                     profile=args.profile).to_body()).encode()
    try:
        parse_install_request(body, message_id=request_id)  # the service's own validation, before sending
    except RequestRejected as exc:
        raise CliError(Exit.BAD_INPUT, exc.reason, exc.description) from None
    ledger = target.ledger() if args.wait else None  # fail before sending if the request cannot be followed
    before = set(_history(ledger.get_cluster(cluster.key))) if ledger is not None else set()
    target.outbox(settings).send(OutgoingMessage(
        queue=settings.queue_name, body=body, message_id=request_id, session_id=cluster.session_id,
        reply_to=args.reply_to))
    out.line(f"submitted request {request_id} for {cluster.id}")
    out.line(f"  queue {settings.queue_name}, session {cluster.session_id}"
             + (f", reply to {args.reply_to}" if args.reply_to else ""))
    document: dict[str, Any] = {"requestId": request_id, "clusterResourceId": cluster.id,
                                "queue": settings.queue_name, "sessionId": cluster.session_id, "replyTo": args.reply_to}
    if ledger is None:
        out.result(document | {"status": "queued"})
        return Exit.OK
    progress = Progress(out)
    try:
        record = _follow(ledger, request_id, cluster, before, progress, settings.extension_poll_seconds,
                         time.monotonic() + args.timeout)
    finally:
        progress.close()
    error = {"code": record.error_code, "message": record.error_message} if record.error_code else None
    out.line(f"{record.status} after {progress.elapsed:.1f}s"
             + (f": {record.error_code}: {record.error_message}" if error else ""))
    out.result(document | {"status": record.status, "error": error, "steps": progress.steps})
    return for_outcome(record.status, record.error_code)


def _follow(ledger: TableLedger, request_id: str, cluster: ClusterRef, before: set[tuple[float, str]],
            progress: Progress, poll: float, deadline: float) -> RequestRecord:
    interval = max(0.25, min(2.0, poll))
    ended_at: float | None = None
    while True:
        request = ledger.get_request(request_id)
        record = ledger.get_cluster(cluster.key)
        for entry in _history(record):  # in the ledger's order: steps of one instant keep theirs
            if entry not in before:
                before.add(entry)
                progress.step(entry[1])
        if request is not None and request.status in ENDED:
            # The service saves request rows (and replies) before the cluster row: wait briefly for the cluster row
            # of this run, so the last steps shown are the run's own. A rejected request never gets one, and a
            # request that joined another's wait may be recorded under that one's id: hence the short bound.
            ended_at = time.monotonic() if ended_at is None else ended_at
            # Earlier runs of this request recorded its id already: the row is this run's once it says the outcome.
            recorded = record is not None and record.last_request_id == request_id and record.phase == request.status
            if recorded or request.status == "rejected" or time.monotonic() - ended_at >= _CLUSTER_ROW_GRACE:
                return request
            time.sleep(0.1)
            continue
        status = "queued: waiting for the service to pick it up" if request is None else request.status
        if time.monotonic() + interval > deadline:
            raise CliError(Exit.WAITING, "StillWaiting", f"request {request_id} is still {status}; follow it with "
                           f"`argoboot status --request {request_id}`")
        progress.wait(interval, f"request {request_id}: {status}")


def _history(record: ClusterRecord | None) -> list[tuple[float, str]]:
    return [(h["at"], h["step"]) for h in record.history] if record is not None else []
