"""HTTP status API (auth level FUNCTION, read-only): what the ledger knows of clusters and requests.

Routes, under the host's `/api` prefix:
  GET clusters[?phase=failed]                          every cluster, or those in one phase
  GET clusters/subscriptions/{subscription}/{*rest}    one cluster: `/api/clusters` + its ARM id, any casing
  GET requests/{requestId}                             one request
The one-cluster route starts with the literal `subscriptions` so that it never overlaps the list route:
the Functions host picks among overlapping routes by function name, not by specificity. Records are
rendered by `shared.pipeline.status_view`, which copies named fields only.
"""
from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from shared.bootstrap.cluster_ids import InvalidClusterId, parse_cluster_id
from shared.bootstrap.names import REQUEST_ID_RULE, is_request_id
from shared.bootstrap.outcome import Phase
from shared.pipeline.status_view import cluster_summary, cluster_view, request_view
from shared.services import services
from shared.telemetry import start_telemetry
from shared.untrusted import echo, shown

bp = func.Blueprint()  # type: ignore[no-untyped-call]
PHASES = tuple(phase.value for phase in Phase)


def _json(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


def _error(status: int, code: str, message: str) -> func.HttpResponse:
    return _json(status, {"error": {"code": code, "message": message}})


@bp.function_name("status_clusters")
@bp.route(route="clusters", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status_clusters(req: func.HttpRequest) -> func.HttpResponse:
    start_telemetry()
    phase = req.params.get("phase")
    if phase is not None and phase not in PHASES:
        return _error(400, "InvalidPhase", f"phase {shown(phase)} is not one of {', '.join(PHASES)}")
    records = services().ledger.list_clusters(phase)
    return _json(200, {"count": len(records), "clusters": [cluster_summary(r) for r in records]})


@bp.function_name("status_cluster")
@bp.route(route="clusters/subscriptions/{subscription}/{*rest}", methods=["GET"],
          auth_level=func.AuthLevel.FUNCTION)
def status_cluster(req: func.HttpRequest) -> func.HttpResponse:
    start_telemetry()
    raw_id = f"/subscriptions/{req.route_params.get('subscription', '')}/{req.route_params.get('rest', '')}"
    try:
        cluster = parse_cluster_id(raw_id)
    except InvalidClusterId as exc:
        return _error(400, "InvalidClusterResourceId", str(exc))
    record = services().ledger.get_cluster(cluster.key)
    if record is None:
        return _error(404, "ClusterNotFound", f"the service has no record of {echo(cluster.id)}: no event or request "
                      "for it has reached it (is its subscription in ALLOWED_SUBSCRIPTIONS?)")
    return _json(200, cluster_view(record))


@bp.function_name("status_request")
@bp.route(route="requests/{requestId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status_request(req: func.HttpRequest) -> func.HttpResponse:
    start_telemetry()
    request_id = req.route_params.get("requestId", "")
    if not is_request_id(request_id):
        return _error(400, "InvalidRequestId", f"{shown(request_id)} is not a request id ({REQUEST_ID_RULE}); a "
                      "message sent without requestId has its message id as request id, or msg-<digest> if that "
                      "is not one (see docs/integration.md)")
    record = services().ledger.get_request(request_id)
    if record is None:
        return _error(404, "RequestNotFound", f"no request {request_id!r}: never received, or older than the "
                      "retention (REQUEST_RETENTION_DAYS)")
    return _json(200, request_view(record))
