"""What the cluster's shape means for Argo CD: the nodes it can run on, and AKS Automatic's resource rules.

Pure functions over `ClusterFacts`; `shared.bootstrap.argocd_extension` renders what they decide.
"""
from __future__ import annotations

from shared.bootstrap.cluster_facts import ClusterFacts

AUTOMATIC_SKU = "automatic"

#: The argo-helm argo-cd chart's components (values paths) and the requests/limits rendered for each on AKS
#: Automatic, whose deployment safeguards refuse pods without them (Azure/AKS#5347). Sized for a small install;
#: a profile's helmValues override any of them.
COMPONENT_RESOURCES: dict[str, tuple[str, str, str, str]] = {
    # path: (cpu request, memory request, cpu limit, memory limit)
    "controller": ("250m", "512Mi", "1", "1Gi"),
    "server": ("50m", "128Mi", "500m", "256Mi"),
    "repoServer": ("100m", "256Mi", "1", "512Mi"),
    "applicationSet": ("50m", "128Mi", "500m", "256Mi"),
    "notifications": ("50m", "64Mi", "250m", "128Mi"),
    "dex": ("50m", "64Mi", "250m", "128Mi"),
    "dex.initImage": ("10m", "32Mi", "100m", "64Mi"),
    "redis": ("50m", "64Mi", "250m", "256Mi"),
    "redisSecretInit": ("10m", "32Mi", "100m", "64Mi"),
    "redis-ha.redis": ("100m", "256Mi", "500m", "512Mi"),
    "redis-ha.sentinel": ("50m", "64Mi", "250m", "128Mi"),
    "redis-ha.haproxy": ("50m", "64Mi", "250m", "128Mi"),
}


def is_automatic(facts: ClusterFacts) -> bool:
    return (facts.sku or "").lower() == AUTOMATIC_SKU


def automatic_resources(facts: ClusterFacts) -> dict[str, str]:
    """Requests and limits for every Argo CD container on AKS Automatic; nothing elsewhere."""
    if not is_automatic(facts):
        return {}
    settings: dict[str, str] = {}
    for path, (cpu, memory, cpu_limit, memory_limit) in COMPONENT_RESOURCES.items():
        settings[f"{path}.resources.requests.cpu"] = cpu
        settings[f"{path}.resources.requests.memory"] = memory
        settings[f"{path}.resources.limits.cpu"] = cpu_limit
        settings[f"{path}.resources.limits.memory"] = memory_limit
    return settings


def capacity_text(facts: ClusterFacts) -> str:
    """`5 node(s), 2 of them where Argo CD can run (pool system (3 node(s)): taint ...)`, for messages and steps."""
    nodes = facts.node_count if facts.node_count is not None else "unknown"
    usable = facts.argocd_nodes
    if usable == facts.node_count or usable is None:
        return f"{nodes} node(s)"
    return f"{nodes} node(s), {usable} of them where Argo CD can run ({'; '.join(facts.unschedulable_pools)})"
