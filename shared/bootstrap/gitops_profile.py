"""The `gitops` and `ui` sections of a profile: the root Application, repository access, cluster metadata,
and how the Argo CD UI is exposed. Validated here, rendered by `shared.bootstrap.gitops`.

Values may hold placeholders (`{{cluster.name}}`, `{{tags.<tag>}}`, ...) filled from the cluster's facts and
its Azure tags only; anything else is a validation error naming the file and the key, so a typo never
reaches a cluster. Errors are `ProfileError`s, as for the rest of the profile.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from shared.bootstrap.chart_keys import helm_path, reaches
from shared.bootstrap.gitops_addons import (
    ADDON_KEYS,
    ADDON_NAME,
    ADDONS_KEYS,
    CHART_VERSION,
    REPO_KEYS,
    Addon,
    Addons,
    RepoFolder,
    addon_annotations,
    addon_labels,
    overlaps,
)
from shared.errors import ProfileError
from shared.untrusted import has_control, shown

Auth = Literal["none", "workloadIdentity", "keyVault"]
Expose = Literal["loadBalancer", "internalLoadBalancer", "none"]
DEFAULT_VAULT_SUFFIX = "vault.azure.net"
#: What a placeholder may name: the cluster's facts, or one of its Azure tags.
CLUSTER_PLACEHOLDERS = ("name", "resourceGroup", "subscription", "location", "kind")
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_TAG_NAME = re.compile(r"^[^<>%&\\?/{}\s]{1,512}$")  # Azure tag names refuse <>%&\?/
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_VAULT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9-]{1,127}$")
REVISION = re.compile(r"^[A-Za-z0-9._/@^~+-]{1,255}$")
_SSH_URL = re.compile(r"^(ssh://[^\s@/]+@[^\s/:]+(:\d+)?/\S+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s:]\S*)$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
_DNS_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

#: What the service writes on the cluster Secret, GitOps Bridge style (its cluster_name, addons_repo_* and
#: workload_repo_* names, aks-platform-engineering's subscription_id, tenant_id, akspe_identity_id and
#: kubelet_identity_client_id); a profile may not set these itself (addons come from gitops.addons).
SERVICE_LABELS = frozenset({"cluster_name", "cluster_kind", "location"})
SERVICE_ANNOTATIONS = frozenset({"cluster_name", "cluster_kind", "subscription_id", "resource_group", "location",
                                 "tenant_id", "workload_identity_client_id", "akspe_identity_id",
                                 "kubelet_identity_client_id",
                                 *(f"{repo}_repo_{part}" for repo in ("addons", "workload")
                                   for part in ("url", "basepath", "path", "revision"))})
GITOPS_KEYS = frozenset({"root", "repository", "clusterMetadata", "addons", "workload"})
_ROOT_KEYS = frozenset({"name", "repoURL", "path", "targetRevision", "project", "destinationNamespace",
                        "syncPolicy"})
_REPOSITORY_KEYS = frozenset({"auth", "keyVaultSecret", "username"})
_METADATA_KEYS = frozenset({"labels", "annotations"})


@dataclass(frozen=True)
class RootApp:
    """The root ("app of apps") Application; `path` and `target_revision` may hold placeholders."""

    repo_url: str
    path: str
    target_revision: str = "HEAD"
    project: str = "default"
    destination_namespace: str = "argocd"
    automated: bool = True
    name: str = "root"


@dataclass(frozen=True)
class KeyVaultSecret:
    """`https://<vault>.<suffix>/secrets/<name>[/<version>]`, split once at validation."""

    url: str
    vault_url: str
    name: str
    version: str | None = None


@dataclass(frozen=True)
class Repository:
    auth: Auth = "none"
    key_vault_secret: KeyVaultSecret | None = None
    username: str = "git"  # for an https repository whose password (token) comes from Key Vault


@dataclass(frozen=True)
class GitOps:
    root: RootApp
    repository: Repository = Repository()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    addons: Addons | None = None
    workload: RepoFolder | None = None


def parse_gitops(value: Any, source: str, *, workload_identity: bool, service_accounts: tuple[str, ...],
                 vault_suffix: str) -> GitOps | None:
    """The `gitops` section, or None when the profile has none."""
    if value is None:
        return None
    section = _mapping(value, source, "gitops", GITOPS_KEYS)
    if section.get("root") is None:
        raise ProfileError(source, "gitops.root", "is required: the repository, path and revision Argo CD syncs "
                           "first (the app of apps)")
    root = _root(_mapping(section["root"], source, "gitops.root", _ROOT_KEYS), source)
    repository = _repository(_mapping(section.get("repository") or {}, source, "gitops.repository",
                                      _REPOSITORY_KEYS), source, root, vault_suffix)
    if repository.auth == "workloadIdentity":
        if not workload_identity:
            raise ProfileError(source, "gitops.repository.auth", "workloadIdentity authenticates Argo CD's "
                               "repo-server with the cluster's managed identity; set workloadIdentity.enabled: true")
        if "argocd-repo-server" not in service_accounts:
            raise ProfileError(source, "gitops.repository.auth", "workloadIdentity needs a federated credential "
                               "for argocd-repo-server; add it to workloadIdentity.serviceAccounts")
    metadata = _mapping(section.get("clusterMetadata") or {}, source, "gitops.clusterMetadata", _METADATA_KEYS)
    labels = _metadata_map(metadata.get("labels"), source, "gitops.clusterMetadata.labels", SERVICE_LABELS)
    annotations = _metadata_map(metadata.get("annotations"), source, "gitops.clusterMetadata.annotations",
                                SERVICE_ANNOTATIONS)
    addons = _addons(section.get("addons"), source, root)
    workload = None if section.get("workload") is None else \
        _folder(_mapping(section["workload"], source, "gitops.workload", REPO_KEYS), source, "gitops.workload")
    if addons is not None:
        for kind, mine, theirs in (("labels", addon_labels(addons), labels),
                                   ("annotations", addon_annotations(addons), annotations)):
            for name in sorted(mine.keys() & theirs.keys()):
                raise ProfileError(source, f"gitops.clusterMetadata.{kind}.{name}", "is written from gitops.addons "
                                   "(enable_<addon>, <addon>_chart_version, <addon>_namespace); set it there")
    return GitOps(root=root, repository=repository, labels=labels, annotations=annotations, addons=addons,
                  workload=workload)


def _addons(value: Any, source: str, root: RootApp) -> Addons | None:
    """`gitops.addons`: the folder of addon ApplicationSets, which must not hold or lie in the root's own folder (two
    Applications would own the same files), and the addons this profile's clusters get."""
    if value is None:
        return None
    section = _mapping(value, source, "gitops.addons", ADDONS_KEYS)
    folder = _folder(section, source, "gitops.addons")
    if not PLACEHOLDER.search(root.path) and overlaps(folder.full_path, root.path):
        raise ProfileError(source, "gitops.addons.path", f"{folder.full_path!r} and gitops.root.path {root.path!r} "
                           "hold one another: GitOps Bridge's bootstrap ApplicationSet would sync the root's files a "
                           "second time. Keep the addon ApplicationSets in a folder of their own")
    enable = section.get("enable") or {}
    if not isinstance(enable, Mapping):
        raise ProfileError(source, "gitops.addons.enable", "must be a mapping of addon names (cert_manager: {}) to "
                           "their options, namespace and chartVersion")
    enabled = {}
    for name, options in enable.items():
        where = f"gitops.addons.enable.{name}"
        if not isinstance(name, str) or not ADDON_NAME.match(name):
            raise ProfileError(source, where, "is not an addon name: lower-case letters, digits and _ (cert_manager, "
                               "as GitOps Bridge names them), starting with a letter, at most 49 characters")
        enabled[name] = _addon(_mapping(options or {}, source, where, ADDON_KEYS), source, where)
    return Addons(folder=folder, enabled=enabled)


def _addon(options: Mapping[str, Any], source: str, where: str) -> Addon:
    namespace = options.get("namespace")
    if namespace is not None:
        namespace = _text(namespace, source, f"{where}.namespace")
        if not _DNS_LABEL.match(namespace):
            raise ProfileError(source, f"{where}.namespace", f"{namespace!r} is not a Kubernetes namespace (lower-case "
                               "letters, digits and hyphens, at most 63)")
    version = options.get("chartVersion")
    if version is not None:
        if not isinstance(version, str):
            raise ProfileError(source, f"{where}.chartVersion", "must be a string (quote it: \"1.16\")")
        version = _text(version, source, f"{where}.chartVersion")
        if not CHART_VERSION.match(version):
            raise ProfileError(source, f"{where}.chartVersion", f"{version!r} cannot be a label value (at most 63 "
                               "letters, digits, - _ . starting and ending with a letter or digit; no +build part)")
    return Addon(namespace=namespace, chart_version=version)


def _folder(section: Mapping[str, Any], source: str, key: str) -> RepoFolder:
    """A repository folder (`gitops.addons` or `gitops.workload`): fleet-wide, so no placeholders."""
    for name in sorted(REPO_KEYS):
        text = section.get(name)
        if isinstance(text, str) and ("{{" in text or "}}" in text):
            raise ProfileError(source, f"{key}.{name}", "takes no placeholders: GitOps Bridge reads one folder for "
                               "the fleet (tell clusters apart by their labels instead)")
    repo_url = None if section.get("repoURL") is None else _repo_url(section["repoURL"], source, f"{key}.repoURL")
    path = _text(section.get("path"), source, f"{key}.path")
    check_path(path, source, f"{key}.path")
    base = section.get("basePath", "")
    if base != "":
        base = _text(base, source, f"{key}.basePath")
        if not base.endswith("/"):
            raise ProfileError(source, f"{key}.basePath", f"{base!r} must end with / (GitOps Bridge concatenates "
                               "basepath and path) or be empty")
        check_path(base[:-1], source, f"{key}.basePath")
    revision = section.get("targetRevision")
    if revision is not None:
        revision = _text(revision, source, f"{key}.targetRevision")
        if not REVISION.match(revision):
            raise ProfileError(source, f"{key}.targetRevision", f"{revision!r} is not a branch, tag or commit")
    return RepoFolder(path=path, base_path=base, repo_url=repo_url, target_revision=revision)


def parse_ui(value: Any, source: str) -> Expose | None:
    """`ui: {expose: loadBalancer | internalLoadBalancer | none}`; None when the profile leaves it alone."""
    if value is None:
        return None
    section = _mapping(value, source, "ui", frozenset({"expose"}))
    expose = section.get("expose")
    if expose not in ("loadBalancer", "internalLoadBalancer", "none"):
        raise ProfileError(source, "ui.expose", f"{expose!r} is not one of loadBalancer, internalLoadBalancer "
                           "(an Azure internal load balancer), none (ClusterIP: reach it with kubectl port-forward)")
    return cast(Expose, expose)


def check_placeholders(text: str, source: str, key: str) -> None:
    """Every `{{...}}` must name a cluster fact or a tag; an unmatched brace is refused too (Helm would read it)."""
    for match in PLACEHOLDER.finditer(text):
        name = match.group(1)
        if name.startswith("tags."):
            if not _TAG_NAME.match(name[5:]):
                raise ProfileError(source, key, f"placeholder {{{{{name}}}}} does not name an Azure tag")
            continue
        if not (name.startswith("cluster.") and name[8:] in CLUSTER_PLACEHOLDERS):
            known = ", ".join(f"{{{{cluster.{p}}}}}" for p in CLUSTER_PLACEHOLDERS)
            raise ProfileError(source, key, f"unknown placeholder {{{{{name}}}}}; use {known} or {{{{tags.<tag>}}}} "
                               "(the cluster's Azure tags)")
    if "{{" in PLACEHOLDER.sub("", text) or "}}" in PLACEHOLDER.sub("", text):
        raise ProfileError(source, key, "has an unmatched {{ or }}; placeholders are written {{cluster.name}}")


def _mapping(value: Any, source: str, key: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ProfileError(source, key, f"must be a mapping with {', '.join(sorted(allowed))}")
    for sub in value:
        if sub not in allowed:
            raise ProfileError(source, f"{key}.{sub}", f"unknown key; {key} has {', '.join(sorted(allowed))}")
    return value


def _text(value: Any, source: str, key: str, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(source, key, "must be a non-empty string")
    _one_line(value, source, key)
    return value.strip()


def _one_line(text: str, source: str, key: str) -> None:
    """Every gitops value is one line of text (a URL, a path, a name, a label): a control character in it (a newline
    from a YAML block scalar, an escape) would reach the chart, the Application or a log line as something else."""
    if has_control(text):
        raise ProfileError(source, key, f"{shown(text)} holds a control character; write it on one line of "
                           "printable text")


def _root(value: Mapping[str, Any], source: str) -> RootApp:
    repo_url = _repo_url(value.get("repoURL"), source)
    path = _text(value.get("path"), source, "gitops.root.path")
    check_placeholders(path, source, "gitops.root.path")
    check_path(PLACEHOLDER.sub("x", path), source, "gitops.root.path")
    revision = _text(value.get("targetRevision"), source, "gitops.root.targetRevision", "HEAD")
    check_placeholders(revision, source, "gitops.root.targetRevision")
    if not REVISION.match(PLACEHOLDER.sub("x", revision)):
        raise ProfileError(source, "gitops.root.targetRevision", f"{revision!r} is not a branch, tag or commit")
    names = {}
    for key, default in (("name", "root"), ("project", "default"), ("destinationNamespace", "argocd")):
        names[key] = _text(value.get(key), source, f"gitops.root.{key}", default)
        if not _DNS_LABEL.match(names[key]):
            raise ProfileError(source, f"gitops.root.{key}", f"{names[key]!r} is not a Kubernetes name (lower-case "
                               "letters, digits and hyphens, at most 63)")
    sync = value.get("syncPolicy", "automated")
    if sync not in ("automated", "manual"):
        raise ProfileError(source, "gitops.root.syncPolicy", f"{sync!r} is not automated (prune and self-heal) or "
                           "manual (sync from the UI or CLI)")
    return RootApp(repo_url=repo_url, path=path, target_revision=revision, project=names["project"],
                   destination_namespace=names["destinationNamespace"], automated=sync == "automated",
                   name=names["name"])


def _repo_url(value: Any, source: str, key: str = "gitops.root.repoURL") -> str:
    url = _text(value, source, key)
    if "{{" in url or "}}" in url:
        raise ProfileError(source, key, "takes no placeholders: one repository serves the fleet; "
                           "vary gitops.root.path per cluster instead")
    if url.startswith("https://"):
        parts = urlsplit(url)
        if not parts.hostname or parts.username or parts.password or any(c.isspace() for c in url):
            raise ProfileError(source, key, f"{url!r} is not an https://host/path URL (credentials "
                               "never go in the URL; use gitops.repository)")
        return url
    if _SSH_URL.match(url):
        return url
    raise ProfileError(source, key, f"{url!r} is neither an https:// URL nor an ssh URL "
                       "(ssh://git@host/org/repo or git@host:org/repo)")


def check_path(path: str, source: str, key: str) -> None:
    """A repository-relative path: no `..`, not absolute, printable characters only."""
    if any(part in ("", "..") for part in path.split("/")) or not re.match(r"^[A-Za-z0-9._/-]{1,1024}$", path):
        raise ProfileError(source, key, f"{path!r} is not a path inside the repository (relative, no .., no empty "
                           "part, letters, digits, . _ - and /)")


def _repository(value: Mapping[str, Any], source: str, root: RootApp, vault_suffix: str) -> Repository:
    auth = value.get("auth", "none")
    if auth not in ("none", "workloadIdentity", "keyVault"):
        raise ProfileError(source, "gitops.repository.auth", f"{auth!r} is not none (a public repository), "
                           "workloadIdentity (Azure DevOps or ACR, as the cluster's identity) or keyVault")
    secret = value.get("keyVaultSecret")
    if auth != "keyVault":
        if secret is not None:
            raise ProfileError(source, "gitops.repository.keyVaultSecret", "is only read with auth: keyVault")
        return Repository(auth=cast(Auth, auth))
    if secret is None:
        raise ProfileError(source, "gitops.repository.keyVaultSecret", "auth: keyVault needs the secret's URL, "
                           f"https://<vault>.{vault_suffix}/secrets/<name>")
    username = _text(value.get("username"), source, "gitops.repository.username", "git")
    if root.repo_url.startswith("https://") is False and "username" in value:
        raise ProfileError(source, "gitops.repository.username", "is for https repositories; an ssh URL takes the "
                           "private key from Key Vault")
    return Repository(auth="keyVault", key_vault_secret=key_vault_secret(secret, source, vault_suffix),
                      username=username)


def key_vault_secret(value: Any, source: str, vault_suffix: str) -> KeyVaultSecret:
    """`https://<vault>.<suffix>/secrets/<name>[/<version>]` and nothing else: the service reads it with its own
    identity, so a URL elsewhere would send that identity's token to someone else."""
    key = "gitops.repository.keyVaultSecret"
    url = _text(value, source, key)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    vault, _, suffix = host.partition(".")
    segments = parts.path.strip("/").split("/")
    if parts.scheme != "https" or parts.port is not None or parts.username or parts.query or parts.fragment or \
            suffix != vault_suffix.lower() or not _VAULT_NAME.match(vault) or \
            len(segments) not in (2, 3) or segments[0] != "secrets" or \
            not all(_SECRET_NAME.match(s) for s in segments[1:]):
        raise ProfileError(source, key, f"{url!r} is not a Key Vault secret URL https://<vault>.{vault_suffix}"
                           "/secrets/<name>[/<version>] (copy the secret identifier from the portal)")
    return KeyVaultSecret(url=url, vault_url=f"https://{host}", name=segments[1],
                          version=segments[2] if len(segments) == 3 else None)


def _metadata_map(value: Any, source: str, key: str, reserved: frozenset[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProfileError(source, key, "must be a mapping of names to values")
    checked = {}
    for name, raw in value.items():
        where = f"{key}.{name}"
        if not isinstance(name, str) or not qualified_name(name):
            raise ProfileError(source, where, "is not a Kubernetes label or annotation name ([prefix/]name, the "
                               "name at most 63 letters, digits, - _ .)")
        if name in reserved:
            raise ProfileError(source, where, "is written by the service itself (see the README, GitOps); choose "
                               "another name")
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise ProfileError(source, where, "must be a string (quote true, false and numbers)")
        text = str(raw)
        _one_line(text, source, where)
        check_placeholders(text, source, where)
        checked[name] = text
    return checked


def qualified_name(name: str) -> bool:
    """A Kubernetes label/annotation key: optional DNS-subdomain prefix and a slash, then a 63-character name."""
    prefix, slash, rest = name.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_PREFIX.match(prefix)):
        return False
    return bool(_QUALIFIED_NAME.match(rest))


#: helmValues keys the gitops and ui sections render: refused there (in, around or inside them, compared in the
#: canonical form of `shared.bootstrap.chart_keys`), so the profile has one way to say each.
_GITOPS_HELM_KEYS = tuple(helm_path(key) for key in ("extraObjects", "configs.clusterCredentials",
                                                     "configs.repositories", "configs.credentialTemplates"))
_UI_HELM_KEYS = tuple(helm_path(key) for key in ("server.service.type", "server.service.annotations"))


def check_helm_values(helm_values: Mapping[str, str], gitops: GitOps | None, ui: Expose | None, source: str) -> None:
    """Refuse helmValues keys that the profile's own gitops or ui section renders."""
    for key in helm_values:
        path = helm_path(key)
        if gitops is not None and any(reaches(path, rendered) for rendered in _GITOPS_HELM_KEYS):
            raise ProfileError(source, f"helmValues.{key}", "is rendered by the service from gitops (the root "
                               "Application, repository access and the cluster Secret); set it there")
        if ui is not None and any(reaches(path, rendered) for rendered in _UI_HELM_KEYS):
            raise ProfileError(source, f"helmValues.{key}", "is rendered by the service from ui.expose")
