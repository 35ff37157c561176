"""The desired `Microsoft.ArgoCD` cluster extension for a cluster under a profile.

Pure decisions: the reconciler compares this with what ARM reports and writes only the difference.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.bootstrap.adoption import is_legacy_version
from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_shape import automatic_resources, capacity_text
from shared.bootstrap.gitops import REGISTRATIONS_KEY, GitOpsSettings, Protected, ui_settings
from shared.bootstrap.metrics import metrics_settings
from shared.bootstrap.ownership import MARKER_KEY, MARKER_VALUE
from shared.bootstrap.profiles import Profile, Sso
from shared.errors import PermanentError

EXTENSION_NAME = "argocd"
EXTENSION_TYPE = "Microsoft.ArgoCD"
RELEASE_NAMESPACE = "argocd"
#: Schedulable nodes HA (redis-ha, the extension's default) needs: "at least four nodes", Microsoft's Argo CD extension
#: quickstart and manage page (learn.microsoft.com/azure/azure-arc/kubernetes/quickstart-deploy-gitops-argo-cd and
#: .../how-to-manage-gitops-argo-cd-extension, 2026); the February 2026 tutorial said three.
HA_MIN_NODES = 4
HA_SOURCE = "Microsoft's Argo CD extension docs, 2026"


@dataclass(frozen=True)
class ExtensionSpec:
    """What to PUT: type, train, cluster-scoped namespace and configuration settings (keys as ARM takes them).

    `deferred` settings (the root Application) are left out of an install and added by a PATCH once the
    extension is Succeeded; `protected` go in configurationProtectedSettings, which Azure never returns."""

    settings: Mapping[str, str] = field(default_factory=dict)
    deferred: Mapping[str, str] = field(default_factory=dict)
    protected: Mapping[str, Protected] = field(default_factory=dict)
    extension_type: str = EXTENSION_TYPE
    release_train: str | None = None  # None: Azure's default train (Microsoft's 2026 docs pass none)
    release_namespace: str = RELEASE_NAMESPACE
    version: str | None = None  # pinned (autoUpgradeMinorVersion false), or None to follow the train

    @property
    def full_settings(self) -> dict[str, str]:
        """Everything a converged extension holds."""
        return {**self.settings, **self.deferred}


@dataclass(frozen=True)
class VersionPin:
    """A PATCH of the extension's version: pin `version` (autoUpgradeMinorVersion false), or None to follow the
    release train again (autoUpgradeMinorVersion true)."""

    version: str | None


@dataclass(frozen=True)
class ExtensionState:
    """An installed extension as ARM reports it."""

    extension_type: str
    provisioning_state: str
    settings: Mapping[str, str]
    version: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    name: str = EXTENSION_NAME
    pinned_version: str | None = None  # `version` as written (a pin); `version` above is what runs
    auto_upgrade: bool = True
    #: `systemData.lastModifiedAt`: an update by someone else shows here even when it changed no setting (and Azure
    #: drops the protected settings an update leaves out, so the service must send them again).
    modified_at: str | None = None

    @property
    def in_progress(self) -> bool:
        return self.provisioning_state.lower() in ("creating", "updating", "deleting", "accepted")


def high_availability(profile: Profile, facts: ClusterFacts) -> bool:
    """HA on or off: the profile decides, `auto` by node count; HA forced on a small cluster is refused."""
    nodes = facts.argocd_nodes  # taints and Windows pools keep Argo CD's pods off some nodes
    if profile.ha == "off":
        return False
    if profile.ha == "on":
        if nodes is not None and nodes < HA_MIN_NODES:
            raise PermanentError("NotEnoughNodesForHA",
                                 f"profile {profile.name!r} requires HA, and HA needs at least {HA_MIN_NODES} "
                                 f"schedulable nodes ({HA_SOURCE}); the cluster has {capacity_text(facts)}. Scale "
                                 f"the cluster (or an untainted Linux pool) to {HA_MIN_NODES} nodes or use a profile "
                                 "with ha: auto or off")
        return True
    return nodes is not None and nodes >= HA_MIN_NODES


def ha_reason(profile: Profile, facts: ClusterFacts) -> str:
    """Whether HA is on, and why, for the steps (ends with the `redis-ha.enabled` value it renders)."""
    nodes = facts.argocd_nodes
    if profile.ha != "auto":
        on = high_availability(profile, facts)
        return f"profile {profile.name!r} says ha: {profile.ha} (redis-ha.enabled={str(on).lower()})"
    if nodes is None:
        return "schedulable nodes unknown: installing single-node (redis-ha.enabled=false)"
    if nodes < HA_MIN_NODES:
        return (f"HA needs at least {HA_MIN_NODES} schedulable nodes ({HA_SOURCE}); this cluster has {nodes}: "
                "installing single-node (redis-ha.enabled=false)")
    return f"{nodes} schedulable nodes, HA needs at least {HA_MIN_NODES} ({HA_SOURCE}): HA (redis-ha.enabled=true)"


def oidc_config(sso: Sso) -> str:
    """The `oidc.config` YAML for Entra ID sign-in with workload identity (no client secret anywhere)."""
    config = {
        "name": "Azure",
        "issuer": f"https://login.microsoftonline.com/{sso.tenant_id}/v2.0",
        "clientID": sso.client_id,
        "azure": {"useWorkloadIdentity": True},
        "requestedIDTokenClaims": {"groups": {"essential": True}},
        "requestedScopes": ["openid", "profile", "email"],
    }
    import yaml  # on first use, not at import: keeps indexing (cold start) fast

    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def render_settings(profile: Profile, facts: ClusterFacts, identity_client_id: str | None) -> dict[str, str]:
    """The extension's configurationSettings, keys exactly as ARM takes them (one backslash before a literal dot)."""
    settings = {**automatic_resources(facts), **profile.helm_values}
    settings["redis-ha.enabled"] = "true" if high_availability(profile, facts) else "false"
    if profile.workload_identity.enabled:
        if not identity_client_id:
            raise ValueError("workload identity needs the client id of the cluster's identity")
        settings["azure.workloadIdentity.enabled"] = "true"
        settings["azure.workloadIdentity.clientId"] = identity_client_id
    if profile.sso is not None:
        settings["azure.workloadIdentity.entraSSOClientId"] = profile.sso.client_id
        settings["configs.cm.oidc\\.config"] = oidc_config(profile.sso)
    if profile.url:
        settings["configs.cm.url"] = profile.url
    if profile.rbac.policy_default is not None:
        settings["configs.rbac.policy\\.default"] = profile.rbac.policy_default
    if profile.rbac.policy_csv is not None:
        settings["configs.rbac.policy\\.csv"] = profile.rbac.policy_csv
    if profile.application_namespaces:
        settings["configs.params.application\\.namespaces"] = ", ".join(profile.application_namespaces)
    settings.update(ui_settings(profile.ui_expose))
    settings.update(metrics_settings(profile.metrics))
    return settings


def desired_extension(profile: Profile, facts: ClusterFacts, identity_client_id: str | None = None,
                      gitops: GitOpsSettings | None = None) -> ExtensionSpec:
    """The extension this cluster should have under this profile (`gitops`: its rendered gitops section), marked
    as the service's (extensions carry no tags, so the marker setting is what tells a later run without a ledger
    that the service created it)."""
    gitops = gitops or GitOpsSettings()
    return ExtensionSpec(settings={**render_settings(profile, facts, identity_client_id), **gitops.base,
                                   MARKER_KEY: MARKER_VALUE},
                         deferred=gitops.root, protected=gitops.protected, version=profile.version,
                         release_train=profile.release_train)


def train_text(train: str | None) -> str:
    """A release train as messages name it."""
    return f"release train {train}" if train else "Azure's default release train"


def version_pin(installed: ExtensionState, spec: ExtensionSpec) -> VersionPin | None:
    """The version change the profile asks for, or None when the extension already pins (or follows) as it says."""
    if spec.version is not None:
        return None if installed.pinned_version == spec.version and not installed.auto_upgrade \
            else VersionPin(spec.version)
    return None if installed.auto_upgrade else VersionPin(None)


def settings_patch(installed: Mapping[str, str], desired: Mapping[str, str]) -> dict[str, str | None]:
    """Only what changed: new or different values, and None (remove) for keys `desired` does not hold.

    The profile is the source of truth for the extension configuration, so a key someone added by hand is removed
    too (the README says so); what an adoption kept is part of `desired` (`shared.bootstrap.adoption`)."""
    patch: dict[str, str | None] = {k: v for k, v in desired.items() if installed.get(k) != v}
    patch.update({k: None for k in installed if k not in desired})
    return patch


def config_hash(settings: Mapping[str, str]) -> str:
    """A short fingerprint of the desired configuration, for the ledger and for spotting drift at a glance. A hub's
    spokes' registrations (and the empty slots before them) change with its spokes, not its profile: left out."""
    own = {k: v for k, v in settings.items() if k != REGISTRATIONS_KEY and not (k.startswith("extraObjects[") and
                                                                                 v == "")}
    return hashlib.sha256(json.dumps(dict(sorted(own.items()))).encode()).hexdigest()[:16]


def legacy_installation(ext: ExtensionState) -> str | None:
    """Why this is a 0.0.x installation (which cannot be upgraded in place), or None for a 1.x one. Decided by the
    version alone: old-style keys such as `config-maps.*` also appear on 1.0.0-preview installs made by Microsoft's
    own tutorial, and those are adopted by a PATCH (`shared.bootstrap.adoption`)."""
    return f"version {ext.version}" if ext.version and is_legacy_version(ext.version) else None
