"""The desired `Microsoft.ArgoCD` cluster extension for a cluster under a profile.

Pure decisions: the reconciler compares this with what ARM reports and writes only the difference.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.cluster_facts import ClusterFacts
from shared.errors import PermanentError
from shared.profiles import Profile

EXTENSION_NAME = "argocd"
EXTENSION_TYPE = "Microsoft.ArgoCD"
RELEASE_TRAIN = "preview"
RELEASE_NAMESPACE = "argocd"
HA_MIN_NODES = 3  # redis-ha needs three nodes; with fewer the Helm install times out


@dataclass(frozen=True)
class ExtensionSpec:
    """What to PUT: type, train, cluster-scoped namespace and configuration settings (keys as ARM takes them)."""

    settings: Mapping[str, str] = field(default_factory=dict)
    extension_type: str = EXTENSION_TYPE
    release_train: str = RELEASE_TRAIN
    release_namespace: str = RELEASE_NAMESPACE


@dataclass(frozen=True)
class ExtensionState:
    """An installed extension as ARM reports it."""

    extension_type: str
    provisioning_state: str
    settings: Mapping[str, str]
    version: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def in_progress(self) -> bool:
        return self.provisioning_state.lower() in ("creating", "updating", "deleting", "accepted")


def high_availability(profile: Profile, facts: ClusterFacts) -> bool:
    """HA on or off: the profile decides, `auto` by node count; HA forced on a small cluster is refused."""
    nodes = facts.node_count
    if profile.ha == "off":
        return False
    if profile.ha == "on":
        if nodes is not None and nodes < HA_MIN_NODES:
            raise PermanentError("NotEnoughNodesForHA",
                                 f"profile {profile.name!r} requires HA but the cluster has {nodes} node(s); "
                                 f"HA needs at least {HA_MIN_NODES}. Scale the cluster to {HA_MIN_NODES} nodes "
                                 "or use a profile with ha: auto or off")
        return True
    return nodes is not None and nodes >= HA_MIN_NODES


def desired_extension(profile: Profile, facts: ClusterFacts) -> ExtensionSpec:
    """The extension this cluster should have under this profile."""
    ha = high_availability(profile, facts)
    return ExtensionSpec(settings={"redis-ha.enabled": "true" if ha else "false"})
