"""Configuration profiles: named, validated descriptions of what an Argo CD installation should look like.

Profiles live as YAML files in the repository (`profiles/*.yaml`, name = file stem); the app setting
DEFAULT_PROFILE picks the one used when a request names none. Every error names the file, the key
and the fix, because the reader is the platform engineer who just edited the file, or another team
whose request override was refused. See the README ("Profiles") for the format.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from shared.bootstrap.cluster_ids import InvalidClusterId, parse_resource_id
from shared.bootstrap.gitops_profile import (
    DEFAULT_VAULT_SUFFIX,
    GITOPS_KEYS,
    Expose,
    GitOps,
    check_helm_values,
    parse_gitops,
    parse_ui,
)
from shared.bootstrap.helm_values import (
    LEGACY_KEYS,
    MULTI_LINE,
    checked_string,
    legacy_config_map,
    parse_helm_values,
)
from shared.bootstrap.hub_profile import HUB_KEYS, Hub, parse_hub
from shared.bootstrap.metrics import Metrics, check_metrics_helm_values, parse_metrics
from shared.bootstrap.names import is_profile_name
from shared.bootstrap.rollout_plan import RolloutPlan, parse_rollout
from shared.errors import ProfileError as ProfileError  # defined there for gitops_profile; importable from here
from shared.errors import RequestRejected
from shared.untrusted import echo, has_control, printable, shown

HaPolicy = Literal["auto", "on", "off"]
Disconnected = Literal["fail", "wait"]  # what an Arc cluster whose agents are Offline or Expired gets
DEFAULT_SERVICE_ACCOUNTS = ("argocd-repo-server", "argocd-application-controller")
MAX_SERVICE_ACCOUNTS = 19  # 20 federated credentials per identity, one kept spare for a manual one

# Matched whole (fullmatch) and ASCII only: `$` would let a trailing newline through, `\d` Unicode digits.
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", re.ASCII)
_SERVICE_ACCOUNT = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", re.ASCII)
_URL = re.compile(r"https://[^\s/]+(/\S*)?")
_ROLE = re.compile(r"role:[A-Za-z0-9_.-]+|", re.ASCII)

#: The sections a profile may have, and under each the keys (None: a leaf).
_LAYOUT: dict[str, frozenset[str] | None] = {
    "description": None,
    "ha": None,
    "url": None,
    "workloadIdentity": frozenset({"enabled", "serviceAccounts", "enableOnCluster"}),
    "sso": frozenset({"tenantId", "clientId", "createFederatedCredential"}),
    "rbac": frozenset({"policyDefault", "policyCsv"}),
    "applicationNamespaces": None,
    "containerRegistries": None,
    "helmValues": None,
    "gitops": GITOPS_KEYS,
    "ui": frozenset({"expose"}),
    "overridable": None,
    "version": None,
    "releaseTrain": None,
    "metrics": None,
    "arc": frozenset({"whenDisconnected"}),
    "hub": HUB_KEYS,
    "rollout": None,  # validated whole by shared.bootstrap.rollout_plan
}

PROFILE_KEYS = tuple(k for k in _LAYOUT if k != "rollout")  # what a request's overrides may name: never the waves

#: What a request may be allowed to override (`overridable:`); `helmValues.<key>` names one value.
OVERRIDABLE = frozenset({"ha", "url", "applicationNamespaces", "rbac", "rbac.policyDefault", "rbac.policyCsv",
                         "containerRegistries", "workloadIdentity.serviceAccounts", "helmValues",
                         "gitops.addons.enable"})  # a request adds addons (GitOps Bridge: per cluster); never removes


@dataclass(frozen=True)
class WorkloadIdentity:
    enabled: bool = False
    service_accounts: tuple[str, ...] = DEFAULT_SERVICE_ACCOUNTS
    enable_on_cluster: bool = False


@dataclass(frozen=True)
class Sso:
    """Entra ID sign-in to the Argo CD UI through `argocd-server` with workload identity."""

    tenant_id: str
    client_id: str
    create_federated_credential: bool = False


@dataclass(frozen=True)
class Rbac:
    policy_default: str | None = None
    policy_csv: str | None = None


@dataclass(frozen=True)
class Profile:
    """A named desired state; `document` is the validated YAML it came from (requests' overrides merge into it)."""

    name: str
    ha: HaPolicy = "auto"
    url: str | None = None
    workload_identity: WorkloadIdentity = WorkloadIdentity()
    sso: Sso | None = None
    rbac: Rbac = Rbac()
    application_namespaces: tuple[str, ...] = ()
    container_registries: tuple[str, ...] = ()
    helm_values: Mapping[str, str] = field(default_factory=dict)
    overridable: frozenset[str] = frozenset()
    description: str = ""
    gitops: GitOps | None = None
    ui_expose: Expose | None = None
    version: str | None = None  # a pinned extension version; None follows the release train
    release_train: str | None = None  # a pinned release train; None: Azure's default train, as Microsoft's docs do
    metrics: Metrics = "off"  # Argo CD's metrics, and Azure Managed Prometheus (shared.bootstrap.metrics)
    when_disconnected: Disconnected = "fail"
    hub: Hub | None = None  # a hub Argo CD, or spokes of one (shared.bootstrap.hub_profile)
    rollout: RolloutPlan | None = None  # the waves a change goes out in (shared.bootstrap.rollout_plan)
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    vault_suffix: str = field(default=DEFAULT_VAULT_SUFFIX, compare=False, repr=False)  # KEY_VAULT_DNS_SUFFIX

    @property
    def digest(self) -> str:
        """Changes when the profile file (or a request's overrides) change: the sweep re-applies on a change. Its
        `rollout:` is left out: it says how a change goes out, and changes nothing on a cluster."""
        document = {k: v for k, v in self.document.items() if k != "rollout"}
        text = json.dumps({"name": self.name, "document": document}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_overrides(self, overrides: Mapping[str, Any]) -> Profile:
        """This profile with a request's overrides applied; refused unless every key is overridable."""
        source = f"request overrides of profile {self.name!r}"
        if not isinstance(overrides, Mapping):
            raise ProfileError(source, "overrides", "must be an object shaped like a profile")
        for path in _leaf_paths(overrides):
            if not _allowed(path, self.overridable):
                allowed = ", ".join(sorted(self.overridable)) or "nothing"
                raise RequestRejected(
                    "OverrideNotAllowed",
                    f"profile {self.name!r} does not let requests override {echo(path)} (it allows: {allowed}); "
                    f"send the request without it, or ask the platform team to add it to `overridable:` in "
                    f"profiles/{self.name}.yaml")
        merged = _merge(self.document, overrides)
        return parse_profile(self.name, merged, source=source, vault_suffix=self.vault_suffix)


def _allowed(path: str, overridable: frozenset[str]) -> bool:
    if path.startswith("helmValues."):
        return "helmValues" in overridable or path in overridable
    parts = path.split(".")
    return any(".".join(parts[:i]) in overridable for i in range(1, len(parts) + 1))


def _leaf_paths(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """`{"rbac": {"policyCsv": ...}, "helmValues": {"a.b": 1}}` -> ["rbac.policyCsv", "helmValues.a.b"]. An empty
    mapping is a leaf: `{"gitops": {"addons": {"enable": {"kyverno": {}}}}}` enables an addon, so it is checked too."""
    paths: list[str] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if path == "helmValues" and isinstance(value, Mapping) and value:
            paths.extend(f"helmValues.{name}" for name in value)
        elif isinstance(value, Mapping) and value:
            paths.extend(_leaf_paths(value, f"{path}."))
        else:
            paths.append(path)
    return paths


def _merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        current = merged.get(key)
        merged[key] = _merge(current, value) if isinstance(current, Mapping) and isinstance(value, Mapping) else value
    return merged


def parse_profile(name: str, data: Any, *, source: str, vault_suffix: str = DEFAULT_VAULT_SUFFIX) -> Profile:
    """Validate a profile document (a YAML mapping) and build the Profile; raise ProfileError naming the key."""
    if not is_profile_name(name):
        raise ProfileError(source, "name", f"{name!r} is not a profile name: use lower-case letters, digits and "
                           "hyphens (the file name without .yaml)")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ProfileError(source, "(top level)", "must be a mapping of keys such as ha, workloadIdentity, sso")
    _check_layout(data, source)
    wi = _workload_identity(data.get("workloadIdentity"), source)
    url = _url(data.get("url"), source)
    sso = _sso(data.get("sso"), source)
    if sso is not None and not wi.enabled:
        raise ProfileError(source, "sso", "Entra SSO signs in through argocd-server with workload identity; set "
                           "workloadIdentity.enabled: true")
    if sso is not None and url is None:
        raise ProfileError(source, "url", "sso needs the external URL of Argo CD (the redirect URI registered on "
                           "the Entra application), e.g. url: https://argocd.example.com/")
    registries = _registries(data.get("containerRegistries"), source)
    if registries and not wi.enabled:
        raise ProfileError(source, "containerRegistries", "AcrPull is granted to the Argo CD workload identity; set "
                           "workloadIdentity.enabled: true")
    gitops = parse_gitops(data.get("gitops"), source, workload_identity=wi.enabled,
                          service_accounts=wi.service_accounts, vault_suffix=vault_suffix)
    ui_expose = parse_ui(data.get("ui"), source)
    helm_values = parse_helm_values(data.get("helmValues"), source)
    check_helm_values(helm_values, gitops, ui_expose, source)
    metrics = parse_metrics(data.get("metrics"), source)
    check_metrics_helm_values(helm_values, metrics, source)
    return Profile(
        name=name, ha=_ha(data.get("ha", "auto"), source), url=url, workload_identity=wi, sso=sso,
        rbac=_rbac(data.get("rbac"), source),
        application_namespaces=_strings(data.get("applicationNamespaces"), source, "applicationNamespaces"),
        container_registries=registries, helm_values=helm_values,
        overridable=_overridable(data.get("overridable"), source),
        description=checked_string(data.get("description", ""), source, "description", allow=MULTI_LINE), gitops=gitops,
        ui_expose=ui_expose, document=data, vault_suffix=vault_suffix,
        version=_version(data.get("version"), source), release_train=_train(data.get("releaseTrain"), source),
        metrics=metrics,
        when_disconnected=_disconnected(data.get("arc"), source),
        hub=parse_hub(data.get("hub"), source, workload_identity=wi.enabled, service_accounts=wi.service_accounts),
        rollout=parse_rollout(data.get("rollout"), source))


def _check_layout(data: Mapping[str, Any], source: str) -> None:
    for key, value in data.items():
        if key in LEGACY_KEYS or str(key).startswith("config-maps"):
            raise ProfileError(source, str(key), f"is a key of the extension's 0.0.x releases; use "
                               f"{LEGACY_KEYS.get(key) or legacy_config_map(str(key))} instead")
        if key not in _LAYOUT:
            raise ProfileError(source, str(key), f"unknown key; a profile has {', '.join(_LAYOUT)}. Extension "
                               "settings not covered by these go under helmValues")
        allowed = _LAYOUT[key]
        if allowed is None or value is None:
            continue
        if not isinstance(value, Mapping):
            raise ProfileError(source, key, f"must be a mapping with {', '.join(sorted(allowed))}")
        for sub in value:
            if sub not in allowed:
                if f"{key}.{sub}" in LEGACY_KEYS:
                    raise ProfileError(source, f"{key}.{sub}", f"is a 0.0.x key; use {LEGACY_KEYS[f'{key}.{sub}']}")
                raise ProfileError(source, f"{key}.{sub}", f"unknown key; {key} has {', '.join(sorted(allowed))}")


def _ha(value: Any, source: str) -> HaPolicy:
    # YAML 1.1 reads a bare on/off as a boolean: accept it as the word the author wrote.
    word = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
    if word not in ("auto", "on", "off"):
        raise ProfileError(source, "ha", f"{value!r} is not one of auto (by node count), on, off")
    return cast(HaPolicy, word)


def _version(value: Any, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$", value):
        raise ProfileError(source, "version", f"{value!r} is not an extension version such as 1.0.0-preview; leave "
                           "version out to follow the release train")
    return value


def _train(value: Any, source: str) -> str | None:
    if value is not None and not (isinstance(value, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,31}", value)):
        raise ProfileError(source, "releaseTrain", f"{printable(str(value))!r} is not a release train such as Preview "
                           "or Stable; leave it out for Azure's default train")
    return value


def _disconnected(value: Any, source: str) -> Disconnected:
    word = (value or {}).get("whenDisconnected", "fail")
    if word not in ("fail", "wait"):
        raise ProfileError(source, "arc.whenDisconnected", f"{word!r} is not fail (report the agents' fix at once) "
                           "or wait (until the agents reconnect)")
    return cast(Disconnected, word)


def _bool(value: Any, source: str, key: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ProfileError(source, key, f"{value!r} is not true or false")
    return value


def _strings(value: Any, source: str, key: str) -> tuple[str, ...]:
    """A list of non-empty one-line strings, none holding a comma (lists are rendered comma-separated)."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence) or \
            not all(isinstance(v, str) and v.strip() for v in value):
        raise ProfileError(source, key, "must be a list of non-empty strings")
    for item in value:
        if has_control(item) or "," in item:
            raise ProfileError(source, key, f"{shown(item)} is not one entry: one line, no comma (list each "
                               "entry on its own)")
    return tuple(v.strip() for v in value)


def _url(value: Any, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _URL.fullmatch(value) or has_control(value):
        raise ProfileError(source, "url", f"{shown(value)} is not an https:// URL (the address users open Argo CD "
                           "at), on one line")
    return value


def _workload_identity(value: Any, source: str) -> WorkloadIdentity:
    value = value or {}
    enabled = _bool(value.get("enabled"), source, "workloadIdentity.enabled", False)
    accounts = _strings(value.get("serviceAccounts"), source, "workloadIdentity.serviceAccounts") \
        if "serviceAccounts" in value else DEFAULT_SERVICE_ACCOUNTS
    for account in accounts:
        if not _SERVICE_ACCOUNT.fullmatch(account):
            raise ProfileError(source, "workloadIdentity.serviceAccounts",
                               f"{shown(account)} is not a Kubernetes service account name (lower-case DNS name)")
    if len(set(accounts)) != len(accounts):
        raise ProfileError(source, "workloadIdentity.serviceAccounts", "lists a service account twice")
    if enabled and not accounts:
        raise ProfileError(source, "workloadIdentity.serviceAccounts", "is empty; list the Argo CD service "
                           f"accounts that need Azure access (default: {', '.join(DEFAULT_SERVICE_ACCOUNTS)})")
    if len(accounts) > MAX_SERVICE_ACCOUNTS:
        raise ProfileError(source, "workloadIdentity.serviceAccounts", f"has {len(accounts)} entries; an identity "
                           f"holds at most 20 federated credentials, so list at most {MAX_SERVICE_ACCOUNTS}")
    return WorkloadIdentity(enabled=enabled, service_accounts=accounts,
                            enable_on_cluster=_bool(value.get("enableOnCluster"), source,
                                                    "workloadIdentity.enableOnCluster", False))


def _sso(value: Any, source: str) -> Sso | None:
    if value is None:
        return None
    ids = {}
    for key in ("tenantId", "clientId"):
        raw = value.get(key)
        if not isinstance(raw, str) or not _GUID.fullmatch(raw):
            raise ProfileError(source, f"sso.{key}", f"{shown(raw)} is not a GUID; copy the "
                               f"{'Directory (tenant)' if key == 'tenantId' else 'Application (client)'} ID from the "
                               "Entra application's overview page")
        ids[key] = raw.lower()
    return Sso(tenant_id=ids["tenantId"], client_id=ids["clientId"],
               create_federated_credential=_bool(value.get("createFederatedCredential"), source,
                                                 "sso.createFederatedCredential", False))


def _rbac(value: Any, source: str) -> Rbac:
    value = value or {}
    default = value.get("policyDefault")
    csv = value.get("policyCsv")
    if default is not None:
        default = checked_string(default, source, "rbac.policyDefault")
        if not _ROLE.fullmatch(default):
            raise ProfileError(source, "rbac.policyDefault", f"{shown(default)} is not a role (e.g. role:readonly), "
                               "on one line")
    if csv is not None:
        csv = checked_string(csv, source, "rbac.policyCsv", allow=MULTI_LINE)
        for number, line in enumerate(csv.splitlines(), 1):
            text = line.strip()
            if text and not text.startswith("#") and not re.match(r"^[pg],\s*\S", text):
                raise ProfileError(source, "rbac.policyCsv", f"line {number} ({shown(text)}) is neither a policy (p, "
                                   "subject, resource, action, object, effect) nor a group mapping (g, group, role)")
    return Rbac(policy_default=default, policy_csv=csv)


def _registries(value: Any, source: str) -> tuple[str, ...]:
    registries = _strings(value, source, "containerRegistries")
    for registry in registries:
        try:
            parsed = parse_resource_id(registry)
            is_registry = (parsed.namespace.lower(), parsed.resource_type.lower()) == \
                ("microsoft.containerregistry", "registries")
        except InvalidClusterId:
            is_registry = False
        if not is_registry:
            raise ProfileError(source, "containerRegistries", f"{registry!r} is not the resource id of a container "
                               "registry (/subscriptions/.../providers/Microsoft.ContainerRegistry/registries/NAME)")
    return registries


def _overridable(value: Any, source: str) -> frozenset[str]:
    paths = _strings(value, source, "overridable")
    for path in paths:
        if path not in OVERRIDABLE and not path.startswith("helmValues."):
            raise ProfileError(source, "overridable", f"{path!r} cannot be overridden by requests; choose from "
                               f"{', '.join(sorted(OVERRIDABLE))} or helmValues.<key>")
    return frozenset(paths)


@dataclass(frozen=True)
class ProfileCatalog:
    """The profiles of one deployment, loaded and validated once per instance."""

    profiles: Mapping[str, Profile]
    default: str

    @classmethod
    def load(cls, directory: Path, default: str, vault_suffix: str = DEFAULT_VAULT_SUFFIX) -> ProfileCatalog:
        """Read every `*.yaml` in `directory`; raise ProfileError for the first invalid one or a missing default.
        `vault_suffix`: the Key Vault DNS suffix secret URLs must use (KEY_VAULT_DNS_SUFFIX)."""
        import yaml  # on first use, not at import: keeps indexing (cold start) fast

        profiles = {}
        for path in sorted(directory.glob("*.yaml")):
            source = str(path)
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise ProfileError(source, "(YAML)", f"does not parse: {exc}") from None
            profiles[path.stem] = parse_profile(path.stem, data, source=source, vault_suffix=vault_suffix)
        if default not in profiles:
            raise ProfileError(str(directory), "DEFAULT_PROFILE", f"names {default!r}, which is not a profile here; "
                               f"known: {', '.join(sorted(profiles)) or 'none'}")
        return cls(profiles=profiles, default=default)

    def resolve(self, requested: str | None, overrides: Mapping[str, Any] | None = None) -> Profile:
        """The profile a request asked for (or the default) with its overrides; refusals become RequestRejected."""
        name = requested or self.default
        profile = self.profiles.get(name)
        if profile is None:
            raise RequestRejected("UnknownProfile", f"profile {name!r} does not exist; known profiles: "
                                  f"{', '.join(sorted(self.profiles))}")
        if not overrides:
            return profile
        try:
            return profile.with_overrides(overrides)
        except ProfileError as exc:
            raise RequestRejected("InvalidOverride", f"overrides.{echo(exc.key)}: {exc.problem}") from None
