"""HTTP status API (auth level FUNCTION, read-only) and the rollout actions (auth level ADMIN): what the ledger knows
of clusters, requests and rollouts; resume or abort a rollout.

In Azure the app sits behind App Service authentication (infra/modules/status-auth.bicep): only callers with an
Entra ID token for the status API reach it, and with STATUS_API_ROLE set (`Status.Read`) every route also checks
that the token carries that app role, from the `X-MS-CLIENT-PRINCIPAL` header App Service authentication sets
(and strips from what callers send). Locally STATUS_API_ROLE is unset and the function key is the only check.

Routes, under the host's `/api` prefix:
  GET clusters[?phase=failed]                          every cluster, or those in one phase
  GET clusters/subscriptions/{subscription}/{*rest}    one cluster: `/api/clusters` + its ARM id, any casing
  GET requests/{requestId}                             one request
  GET rollouts[/{profile}]                             staged profile rollouts: wave, halt, failed clusters
  POST rollouts/{profile}/resume|abort                 the operator's actions: the host's master key only (ADMIN),
                                                       the rollout afterwards; 404 none, 409 completed
The one-cluster route starts with the literal `subscriptions` so that it never overlaps the list route:
the Functions host picks among overlapping routes by function name, not by specificity. Records are
rendered by `shared.pipeline.status_view`, which copies named fields only.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import azure.functions as func

from shared.azure.ledger import ClusterRecord
from shared.azure.rollout_store import RolloutState
from shared.bootstrap.cluster_ids import InvalidClusterId, parse_cluster_id
from shared.bootstrap.names import PROFILE_NAME_RULE, REQUEST_ID_RULE, is_profile_name, is_request_id
from shared.bootstrap.outcome import Phase
from shared.errors import RequestRejected
from shared.pipeline.hub_view import spokes_of
from shared.pipeline.rollout_request import act, no_rollout
from shared.pipeline.status_view import cluster_summary, cluster_view, request_view, rollout_view
from shared.services import services
from shared.telemetry import start_telemetry
from shared.untrusted import echo, shown

bp = func.Blueprint()  # type: ignore[no-untyped-call]
PHASES = tuple(phase.value for phase in Phase)


def _json(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


def _error(status: int, code: str, message: str) -> func.HttpResponse:
    return _json(status, {"error": {"code": code, "message": message}})


def _refused(req: func.HttpRequest) -> func.HttpResponse | None:
    """403 unless the caller's token carries STATUS_API_ROLE (when set); None: go on."""
    role = services().settings.status_api_role
    if role is None or role in _caller_roles(req.headers.get("x-ms-client-principal")):
        return None
    return _error(403, "MissingAppRole", f"the caller's token does not carry the app role {role} of the status API; "
                  "ask the platform team to assign it to your identity (docs/deploy.md), then get a new token")


def _caller_roles(header: str | None) -> set[str]:
    """The app roles in App Service authentication's client principal (base64 JSON of the token's claims)."""
    try:
        principal = json.loads(base64.b64decode(header or "", validate=True))
        role_type = principal.get("role_typ") or "roles"
        return {c["val"] for c in principal.get("claims", ()) if c.get("typ") in (role_type, "roles")
                and isinstance(c.get("val"), str)}
    except (binascii.Error, ValueError, TypeError, AttributeError, KeyError):
        return set()


@bp.function_name("status_clusters")
@bp.route(route="clusters", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status_clusters(req: func.HttpRequest) -> func.HttpResponse:
    start_telemetry()
    if (refusal := _refused(req)) is not None:
        return refusal
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
    if (refusal := _refused(req)) is not None:
        return refusal
    raw_id = f"/subscriptions/{req.route_params.get('subscription', '')}/{req.route_params.get('rest', '')}"
    try:
        cluster = parse_cluster_id(raw_id)
    except InvalidClusterId as exc:
        return _error(400, "InvalidClusterResourceId", str(exc))
    record = services().ledger.get_cluster(cluster.key)
    if record is None:
        return _error(404, "ClusterNotFound", f"the service has no record of {echo(cluster.id)}: no event or request "
                      "for it has reached it (is its subscription in ALLOWED_SUBSCRIPTIONS?)")
    return _json(200, cluster_view(record, _spokes(record)))


def _spokes(record: ClusterRecord) -> list[dict[str, str]] | None:
    """A hub's spokes (one ledger scan, only for a cluster whose profile makes it a hub)."""
    try:
        hub = services().processor.profiles.resolve(record.profile, record.overrides).hub
    except RequestRejected:
        return None
    return spokes_of(record.key, services().ledger.list_clusters()) if hub is not None and hub.serve else None


@bp.function_name("status_request")
@bp.route(route="requests/{requestId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status_request(req: func.HttpRequest) -> func.HttpResponse:
    start_telemetry()
    if (refusal := _refused(req)) is not None:
        return refusal
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


@bp.function_name("status_rollouts")
@bp.route(route="rollouts", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status_rollouts(req: func.HttpRequest) -> func.HttpResponse:
    """Every profile's rollout (one each, completed ones too)."""
    start_telemetry()
    if (refusal := _refused(req)) is not None:
        return refusal
    views = [_rollout(state) for state in services().ledger.rollouts.list_states()]
    return _json(200, {"count": len(views), "rollouts": views})


@bp.function_name("status_rollout")
@bp.route(route="rollouts/{profile}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status_rollout(req: func.HttpRequest) -> func.HttpResponse:
    start_telemetry()
    if (refusal := _refused(req)) is not None:
        return refusal
    name = req.route_params.get("profile", "")
    if (invalid := _invalid_profile(name)) is not None:
        return invalid
    state = services().ledger.rollouts.get_state(name)
    if state is None:
        missing = no_rollout(name)
        return _error(404, missing.reason, missing.description)
    return _json(200, _rollout(state))


@bp.function_name("rollout_action")
@bp.route(route="rollouts/{profile}/{action}", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def rollout_action(req: func.HttpRequest) -> func.HttpResponse:
    """Resume or abort a rollout. ADMIN: the host's master key, not the function key the reads take (and, in Azure,
    the status API's app role as well), because it acts on every cluster of the profile."""
    start_telemetry()
    if (refusal := _refused(req)) is not None:
        return refusal
    name, action = req.route_params.get("profile", ""), req.route_params.get("action", "")
    if (invalid := _invalid_profile(name)) is not None:
        return invalid
    if action not in ("resume", "abort"):
        return _error(404, "UnknownRolloutAction", f"{shown(action)} is not a rollout action: POST "
                      f"/api/rollouts/{name}/resume or /api/rollouts/{name}/abort")
    who = req.headers.get("x-ms-client-principal-name")  # App Service authentication's, stripped from callers
    by = f"POST /api/rollouts/{name}/{action}" + (f" ({echo(who)[:100]})" if who else "")
    try:
        state = act(services().ledger.rollouts, name, "resume" if action == "resume" else "abort", by,
                    services().processor.clock)
    except RequestRejected as exc:
        return _error(404 if exc.reason == "RolloutNotFound" else 409, exc.reason, exc.description)
    return _json(200, _rollout(state))


def _invalid_profile(name: str) -> func.HttpResponse | None:
    if is_profile_name(name):
        return None
    return _error(400, "InvalidProfile", f"{shown(name)} is not a profile name ({PROFILE_NAME_RULE})")


def _rollout(state: RolloutState) -> dict[str, Any]:
    profile = services().processor.profiles.profiles.get(state.profile)
    members = services().ledger.rollouts.members(state.profile, state.target)
    return rollout_view(state, profile.rollout if profile else None, members)
