"""Install requests (schema v1): the one message format the queue handler reads.

Other services post these; the Event Grid handler and the continuation logic produce them too.
Validation is strict and every refusal names the field and the fix, because the sender is
another team's service that will read the dead-letter reason, not our logs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.bootstrap.cluster_ids import ClusterRef, InvalidClusterId, parse_cluster_id
from shared.bootstrap.names import (
    PROFILE_NAME_RULE,
    REQUEST_ID_RULE,
    is_profile_name,
    is_request_id,
    message_request_id,
)
from shared.bootstrap.profiles import PROFILE_KEYS
from shared.errors import RequestRejected
from shared.pipeline.json_body import load_json
from shared.untrusted import echo, shown

SCHEMA_VERSION = 1
ACTIONS = ("bootstrap", "update", "uninstall")
# Refused here by name: the operator's, read from the internal work queue only (`shared.pipeline.rollout_request`).
OPERATOR_ACTIONS = ("rollout-status", "rollout-resume", "rollout-abort")
_FIELDS = {"schemaVersion", "action", "clusterResourceId", "profile", "overrides", "requestId", "adopt",
           "reinstall"}


@dataclass(frozen=True)
class InstallRequest:
    """A validated request: what to do to which cluster, and who asked."""

    request_id: str
    action: str
    cluster: ClusterRef
    profile: str | None = None
    overrides: dict[str, Any] | None = None
    adopt: bool = False  # take over an Argo CD extension the service did not create
    reinstall: bool = False  # uninstall a 0.0.x extension (every Application goes with it) to install 1.x

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION, "action": self.action,
                                "clusterResourceId": self.cluster.id, "requestId": self.request_id}
        if self.profile:
            body["profile"] = self.profile
        if self.overrides is not None:
            body["overrides"] = self.overrides
        if self.adopt:
            body["adopt"] = True
        if self.reinstall:
            body["reinstall"] = True
        return body


def parse_install_request(body: bytes, *, message_id: str | None) -> InstallRequest:
    """Parse a message body; raise RequestRejected with a reason and a description naming the field."""
    return install_request_from(load_object(body), message_id=message_id)


def load_object(body: bytes) -> dict[str, Any]:
    """The body's JSON object (the size, depth and encoding limits of `load_json`)."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise RequestRejected("InvalidJson", f"the body is a JSON {type(data).__name__}; send a JSON object")
    return data


def check_envelope(data: dict[str, Any], fields: set[str], what: str) -> None:
    """Only the fields of `what` (e.g. "schema v1"), and schemaVersion 1: the same for every kind of request."""
    unknown = sorted(set(data) - fields)
    if unknown:
        raise RequestRejected("UnknownField", f"field(s) {echo(', '.join(unknown))} are not part of {what}; "
                              f"allowed: {', '.join(sorted(fields))}")
    version = data.get("schemaVersion")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise RequestRejected("UnsupportedSchemaVersion",
                              f"schemaVersion is {shown(version)}; this service reads schemaVersion {SCHEMA_VERSION}")


def request_id_of(data: dict[str, Any], message_id: str | None) -> str:
    """The body's requestId, or one derived from the message id; of the request-id grammar."""
    request_id = data.get("requestId", message_request_id(message_id) if message_id else None)
    if not is_request_id(request_id):
        raise RequestRejected("InvalidRequestId", f"requestId {shown(request_id)} must be {REQUEST_ID_RULE} (or omit "
                              "it to use the message id)")
    return request_id


def install_request_from(data: dict[str, Any], *, message_id: str | None) -> InstallRequest:
    """An install request from a body's object; the operator's rollout actions are refused by name."""
    check_envelope(data, _FIELDS, "schema v1")
    action = data.get("action")
    if action in OPERATOR_ACTIONS:
        raise RequestRejected("OperatorActionNotAllowed", f"{action} acts on a profile's rollout (every cluster of the "
                              "profile), which is the platform team's to decide, and a message on this queue cannot "
                              f"prove who sent it: run `argoboot {action.replace('-', ' ')} PROFILE`, or send it to "
                              "the service's internal work queue (Send granted by Azure RBAC), or POST "
                              "/api/rollouts/PROFILE/resume|abort with the host's master key (docs/integration.md, "
                              "the trust boundary)")
    if action not in ACTIONS:
        raise RequestRejected("UnknownAction", f"action is {shown(action)}; supported: {', '.join(ACTIONS)}")
    raw_id = data.get("clusterResourceId")
    if raw_id is None:
        raise RequestRejected("MissingField", "clusterResourceId is required: the ARM id of an AKS or Arc cluster")
    if not isinstance(raw_id, str):
        raise RequestRejected("InvalidClusterResourceId", "clusterResourceId must be a string")
    try:
        cluster = parse_cluster_id(raw_id)
    except InvalidClusterId as exc:
        raise RequestRejected("InvalidClusterResourceId", f"clusterResourceId: {exc}") from None
    profile = data.get("profile")
    if profile is not None and not is_profile_name(profile):
        raise RequestRejected("InvalidProfile", f"profile {shown(profile)} is not a profile name "
                              f"({PROFILE_NAME_RULE})")
    overrides = data.get("overrides")
    if overrides is not None and (not isinstance(overrides, dict) or not set(overrides) <= set(PROFILE_KEYS)):
        raise RequestRejected("InvalidOverride", "overrides must be an object shaped like a profile, e.g. "
                              '{"rbac": {"policyCsv": "..."}}, with keys among ' + ", ".join(PROFILE_KEYS)
                              + "; the profile lists what may be overridden")
    request_id = request_id_of(data, message_id)
    adopt = data.get("adopt", False)
    if not isinstance(adopt, bool):
        raise RequestRejected("InvalidAdopt", f"adopt is {shown(adopt)}; send true to take over an Argo CD extension "
                              "the service did not create, or leave it out")
    reinstall = data.get("reinstall", False)
    if not isinstance(reinstall, bool):
        raise RequestRejected("InvalidReinstall", f"reinstall is {shown(reinstall)}; send true to let the service "
                              "uninstall a 0.0.x Argo CD extension (and every Application on the cluster with it) to "
                              "install 1.x, or leave it out")
    return InstallRequest(request_id=request_id, action=action, cluster=cluster, profile=profile,
                          overrides=overrides, adopt=adopt, reinstall=reinstall)
