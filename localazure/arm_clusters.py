"""AKS managed clusters and Arc connected clusters: created from Python, read over HTTP."""

from __future__ import annotations

from collections.abc import Mapping

from localazure.arm_model import (
    AKS,
    TERMINAL_CLUSTER_STATES,
    Cluster,
    ClusterKind,
    Json,
    cluster_event,
    not_found_message,
)
from localazure.arm_request import ArmError, Call, allow
from localazure.arm_server import Reply
from localazure.arm_state import ArmState


class ClusterRoutes(ArmState):
    def _add_cluster(
        self,
        kind: ClusterKind,
        subscription: str,
        resource_group: str,
        name: str,
        location: str,
        node_counts: tuple[int, ...],
        identity: str,
        oidc_issuer: bool,
        workload_identity: bool,
        provisioning_state: str,
        ready_after: float | None,
        tags: Mapping[str, str] | None,
        now: float,
    ) -> Json:
        cluster = Cluster(
            kind=kind,
            subscription=subscription,
            resource_group=resource_group,
            name=name,
            location=location,
            node_counts=node_counts,
            identity=identity,
            oidc_issuer=oidc_issuer,
            workload_identity=workload_identity,
            provisioning_state=provisioning_state,
            ready_at=None if ready_after is None else now + ready_after,
            tags=dict(tags or {}),
            created=now,
            tenant_id=self.tenant_id,
        )
        if cluster.key in self._clusters:
            raise ValueError(f"cluster {cluster.resource_uri} already exists")
        self._clusters[cluster.key] = cluster
        return cluster_event(cluster, deleted=False, now=now, tenant_id=self.tenant_id)

    def _cluster(self, call: Call) -> Reply:
        allow(call, "GET", "PUT")
        cluster = self._clusters.get("/" + "/".join(call.lower))
        if cluster is None:
            s = call.segments
            if call.method == "PUT":
                raise ArmError(400, "BadRequest", "The local ARM creates clusters from Python (add_aks_cluster).")
            raise ArmError(404, "ResourceNotFound", not_found_message(s[5], s[6], s[7], s[3]))
        if call.method == "PUT":
            return self._update_cluster(call, cluster)
        return Reply(200, cluster.body(call.api_version, call.now))

    def _update_cluster(self, call: Call, cluster: Cluster) -> Reply:
        """`az aks update` for the OIDC issuer and workload identity: a PUT of the whole cluster, then Updating."""
        if cluster.kind is not AKS:
            raise ArmError(400, "BadRequest", "Connected clusters are updated with PATCH and the agents' Helm chart.")
        # ARM checks the write, and AKS links the user-assigned control-plane identity the PUT names (a whole-cluster
        # PUT repeats it) on every PUT: the caller must be allowed to assign it.
        current = cluster.body(call.api_version, call.now)
        sent = call.body.get("identity") if isinstance(call.body, dict) else None
        identities = (sent if isinstance(sent, dict) else current.get("identity") or {}).get("userAssignedIdentities")
        linked = [("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", str(identity))
                  for identity in (identities if isinstance(identities, dict) else {})]
        self._permissions.require(call.caller, "Microsoft.ContainerService/managedClusters/write", current["id"],
                                  linked)
        refuse_busy_cluster(cluster, call.now)
        properties = call.body.get("properties") if isinstance(call.body, dict) else None
        if not isinstance(properties, dict):
            raise ArmError(400, "InvalidRequestContent", "The request body must contain an object 'properties'.")
        oidc = bool((properties.get("oidcIssuerProfile") or {}).get("enabled"))
        workload = bool(((properties.get("securityProfile") or {}).get("workloadIdentity") or {}).get("enabled"))
        if cluster.oidc_issuer and not oidc:
            raise ArmError(400, "BadRequest", "OIDC issuer cannot be disabled once it is enabled.")
        if workload and not oidc:
            raise ArmError(
                400, "BadRequest", "Enabling workload identity requires enabling OIDC issuer (--enable-oidc-issuer)."
            )
        cluster.oidc_issuer, cluster.workload_identity = oidc, workload
        cluster.provisioning_state = "Updating"
        cluster.ready_at = call.now + self.cluster_update_seconds
        return Reply(200, cluster.body(call.api_version, call.now))


def refuse_busy_cluster(cluster: Cluster, now: float) -> None:
    """AKS refuses extension writes while the cluster itself is being created or updated."""
    state = cluster.state(now)
    if cluster.kind is AKS and state.lower() not in TERMINAL_CLUSTER_STATES:
        raise ArmError(
            409,
            "OperationNotAllowed",
            f"Operation is not allowed: Another operation ({state}) is in progress, please wait for it to finish "
            "before starting a new operation. See https://aka.ms/aks-pending-operation for more details",
        )
