"""The desired `Microsoft.ArgoCD` cluster extension for a cluster under a profile.

Pure decisions: the reconciler compares this with what ARM reports and writes only the difference.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.gitops import GitOpsSettings, Protected, ui_settings
from shared.bootstrap.profiles import LEGACY_KEYS, Profile, Sso
from shared.errors import PermanentError

EXTENSION_NAME = "argocd"
EXTENSION_TYPE = "Microsoft.ArgoCD"
RELEASE_TRAIN = "preview"
RELEASE_NAMESPACE = "argocd"
HA_MIN_NODES = 3  # redis-ha needs three nodes; with fewer the Helm install times out


@dataclass(frozen=True)
class ExtensionSpec:
    """What to PUT: type, train, cluster-scoped namespace and configuration settings (keys as ARM takes them).

    `deferred` settings (the root Application) are left out of an install and added by a PATCH once the
    extension is Succeeded; `protected` go in configurationProtectedSettings, which Azure never returns."""

    settings: Mapping[str, str] = field(default_factory=dict)
    deferred: Mapping[str, str] = field(default_factory=dict)
    protected: Mapping[str, Protected] = field(default_factory=dict)
    extension_type: str = EXTENSION_TYPE
    release_train: str = RELEASE_TRAIN
    release_namespace: str = RELEASE_NAMESPACE

    @property
    def full_settings(self) -> dict[str, str]:
        """Everything a converged extension holds."""
        return {**self.settings, **self.deferred}


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
    settings = dict(profile.helm_values)
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
    return settings


def desired_extension(profile: Profile, facts: ClusterFacts, identity_client_id: str | None = None,
                      gitops: GitOpsSettings | None = None) -> ExtensionSpec:
    """The extension this cluster should have under this profile (`gitops`: its rendered gitops section)."""
    gitops = gitops or GitOpsSettings()
    return ExtensionSpec(settings={**render_settings(profile, facts, identity_client_id), **gitops.base},
                         deferred=gitops.root, protected=gitops.protected)


def settings_patch(installed: Mapping[str, str], desired: Mapping[str, str]) -> dict[str, str | None]:
    """Only what changed: new or different values, and None (remove) for keys the profile no longer sets.

    The profile is the source of truth for the whole extension configuration, so a key someone added
    by hand is removed too; the README says so."""
    patch: dict[str, str | None] = {k: v for k, v in desired.items() if installed.get(k) != v}
    patch.update({k: None for k in installed if k not in desired})
    return patch


def config_hash(settings: Mapping[str, str]) -> str:
    """A short fingerprint of the desired configuration, for the ledger and for spotting drift at a glance."""
    return hashlib.sha256(json.dumps(dict(sorted(settings.items()))).encode()).hexdigest()[:16]


def legacy_installation(ext: ExtensionState) -> str | None:
    """Why this is a 0.0.x installation (which cannot be upgraded in place), or None for a 1.x one."""
    if ext.version and ext.version.startswith("0.0."):
        return f"version {ext.version}"
    legacy = sorted(k for k in ext.settings if k in LEGACY_KEYS or k.startswith("config-maps."))
    return f"0.0.x settings {', '.join(legacy)}" if legacy else None
