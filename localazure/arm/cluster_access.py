"""How an AKS cluster lets others in, as the local ARM models it: Entra integration with Azure RBAC (`aadProfile`),
private API servers (`apiServerAccessProfile`, `privateFQDN`), and the kubeconfig of `listClusterUserCredential`.

A hub Argo CD reaches a spoke through these (argocd-2026.md section 4): the spoke's API server FQDN, its CA from the
user kubeconfig ARM returns, and Azure RBAC deciding what the hub's identity may do. The kubeconfig carries a token
as well, as a real one may: the service must keep only the CA.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from localazure.arm.common import Json

if TYPE_CHECKING:
    from localazure.arm.clusters import Cluster

def api_server(cluster: Cluster) -> str:
    """The API server's FQDN (the private one on a private cluster), as AKS reports it."""
    zone = "privatelink." if cluster.private else ""
    return f"{cluster.name}-dns-{cluster.dns_suffix}.{zone}hcp.{cluster.location}.azmk8s.io"


def access_properties(cluster: Cluster) -> Json:
    """aadProfile (managed Entra integration, Azure RBAC) and the private-cluster fields of an AKS body."""
    body: Json = {"apiServerAccessProfile": {"enablePrivateCluster": cluster.private}}
    if cluster.aad_rbac:
        body["aadProfile"] = {"managed": True, "enableAzureRBAC": True, "tenantID": cluster.tenant_id}
    if cluster.private:
        body["privateFQDN"] = api_server(cluster)
    return body


def cluster_ca(cluster: Cluster) -> str:
    """The cluster's CA certificate as kubeconfig's `certificate-authority-data` (base64 of a PEM), stable per
    cluster."""
    seed = hashlib.sha256(cluster.key.encode()).digest()
    body = base64.encodebytes(seed * 24).decode().strip()
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def user_kubeconfig(cluster: Cluster, token: str) -> str:
    """The clusterUser kubeconfig as AKS returns it (YAML), with a bearer token in its user entry."""
    name = cluster.name
    return (
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {cluster_ca(cluster)}\n"
        f"    server: https://{api_server(cluster)}:443\n  name: {name}\n"
        f"contexts:\n- context:\n    cluster: {name}\n    user: clusterUser_{cluster.resource_group}_{name}\n"
        f"  name: {name}\ncurrent-context: {name}\npreferences: {{}}\n"
        f"users:\n- name: clusterUser_{cluster.resource_group}_{name}\n  user:\n    token: {token}\n"
    )
