"""What a hub Argo CD needs from ARM on a spoke: `POST .../managedClusters/{name}/listClusterUserCredential` (the
kubeconfig holding the spoke's CA), and tests' switch for a cluster's Entra/Azure RBAC and private API server.

Per Microsoft's spec (every managedClusters api-version from 2018-03-31 on has it; api-versions.md section 2) the
answer is `{"kubeconfigs": [{"name": "clusterUser", "value": <base64 kubeconfig>}]}`; the caller needs
`Microsoft.ContainerService/managedClusters/listClusterUserCredential/action` (operations.md).
"""

from __future__ import annotations

import base64
import hashlib
import threading

from localazure.arm.cluster_access import user_kubeconfig
from localazure.arm.clusters import ClusterRoutes
from localazure.arm.common import not_found_message
from localazure.arm.request import ArmError, Call, allow
from localazure.arm.server import Reply

LIST_USER_CREDENTIAL = "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action"


class HubAccessRoutes(ClusterRoutes):
    """`POST .../managedClusters/{name}/listClusterUserCredential`; tests set a cluster's access with
    `set_cluster_access`."""

    _lock: threading.Lock  # the emulator's (ArmEmulator.__init__)

    def __init__(self) -> None:
        super().__init__()
        self.issued_user_tokens: list[str] = []  # every token a kubeconfig carried (tests: none may be kept)

    def _user_credential(self, call: Call) -> Reply:
        allow(call, "POST")
        key = "/" + "/".join(call.lower[:-1])
        cluster = self._clusters.get(key)
        if cluster is None:
            s = call.segments
            raise ArmError(404, "ResourceNotFound", not_found_message(s[5], s[6], s[7], s[3]))
        self._permissions.require(call.caller, LIST_USER_CREDENTIAL, cluster.resource_uri)
        token = hashlib.sha256(f"token:{cluster.key}:{call.now}".encode()).hexdigest()
        self.issued_user_tokens.append(token)
        value = base64.b64encode(user_kubeconfig(cluster, token).encode()).decode()
        return Reply(200, {"kubeconfigs": [{"name": "clusterUser", "value": value}]})

    def set_cluster_access(self, cluster_id: str, *, aad_rbac: bool = True, private: bool = False) -> None:
        """An AKS cluster's Entra integration with Azure RBAC on or off, its API server private or public."""
        with self._lock:
            cluster = self._clusters["/" + cluster_id.strip("/").lower()]
            cluster.aad_rbac, cluster.private = aad_rbac, private
