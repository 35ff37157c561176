"""The profile's `gitops` and `ui` sections rendered as the extension's own configuration, for AKS and Arc alike.

Everything reaches the cluster through keys of the argo-helm `argo-cd` chart, so the extension's Helm
release owns the objects, the service's PATCH repairs drift on them and an uninstall removes them:

- the in-cluster cluster Secret (server https://kubernetes.default.svc), labels and annotations in the GitOps Bridge
  style, as one YAML string in `extraObjects[0]`: under Helm's typed `--set`, `configs.clusterCredentials.*.labels`
  would turn `enable_<addon>: "true"` into a boolean, which Kubernetes refuses as a label value; in a YAML string it
  stays a string. The chart runs string entries through `tpl`, so every `{{` is escaped (`tpl_escape`);
- repository access: `configs.repositories.root.*`, credentials in `configs.credentialTemplates.root.*`
  (that template renders values with `toString`, so `useAzureWorkloadIdentity: true` survives Helm's typing);
- the root Application: one YAML string in `extraObjects[1]`, escaped alike. It is
  *deferred*: the chart installs Argo CD's CRDs itself and Helm refuses a first install that also holds
  an Application, so it only ever travels in a PATCH to a Succeeded extension;
- `ui.expose`: `server.service.type`, with the Azure internal load balancer annotation where asked.

A Key Vault secret becomes a protected setting (`Protected`), whose value never appears in a repr, a plan,
the ledger or a log line: only its label, `<from Key Vault: name>`.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.gitops_addons import RepoFolder, addon_annotations, addon_labels, overlaps
from shared.bootstrap.gitops_profile import (
    PLACEHOLDER,
    REVISION,
    Expose,
    GitOps,
    RootApp,
    check_path,
)
from shared.errors import PermanentError, ProfileError

IN_CLUSTER = "https://kubernetes.default.svc"
SECRET_KEY = "extraObjects[0]"  # the cluster Secret: in every install (a Secret needs no CRD)
ROOT_KEY = "extraObjects[1]"  # the root Application: only once the chart's CRDs exist
REGISTRATIONS_KEY = "extraObjects[2]"  # on a hub: its spokes' cluster Secrets (shared.bootstrap.hub_registration)
REPOSITORY = "root"  # the key under configs.repositories and configs.credentialTemplates
INTERNAL_LB = "service.beta.kubernetes.io/azure-load-balancer-internal"
_HASH_ITERATIONS = 60_000


@dataclass(frozen=True)
class Protected:
    """A protected setting: `value` goes to Azure only; `label` is what everyone else sees."""

    value: str = field(repr=False)
    label: str


@dataclass(frozen=True)
class RootView:
    """The root Application as rendered for this cluster: what the reply, the status API and the CLI show."""

    repo_url: str
    path: str
    target_revision: str

    def as_dict(self, applied: bool) -> dict[str, str | bool]:
        return {"repoURL": self.repo_url, "path": self.path, "targetRevision": self.target_revision,
                "applied": applied}


@dataclass(frozen=True)
class GitOpsSettings:
    """`base` goes in every install; `root` only once the chart's CRDs exist; `protected` never in clear."""

    base: dict[str, str] = field(default_factory=dict)
    root: dict[str, str] = field(default_factory=dict)
    protected: dict[str, Protected] = field(default_factory=dict)
    view: RootView | None = None


def helm_key(name: str) -> str:
    """A map key as one segment of a --set path: a literal dot is escaped with one backslash."""
    return name.replace(".", "\\.")


def fill(text: str, cluster: ClusterRef, facts: ClusterFacts) -> str:
    """Replace `{{cluster.*}}` and `{{tags.*}}` (Azure tag names are case-insensitive; a missing tag is empty)."""
    tags = {k.lower(): v for k, v in facts.tags.items()}
    known = {"cluster.name": cluster.name, "cluster.resourceGroup": cluster.resource_group,
             "cluster.subscription": cluster.subscription, "cluster.location": facts.location,
             "cluster.kind": cluster.kind}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return tags.get(name[5:].lower(), "") if name.startswith("tags.") else known[name]

    return PLACEHOLDER.sub(value, text)


def label_value(raw: str) -> str:
    """The value as a Kubernetes label allows it: 63 characters, alphanumerics and - _ . inside (a string, whatever
    it reads like: the Secret travels as a YAML string, not as typed --set values)."""
    value = re.sub(r"[^-A-Za-z0-9_.]", "-", raw)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


def tpl_escape(text: str) -> str:
    """A string the chart's `tpl` renders back to itself: each `{{` becomes the template action that prints `{{`.
    Tag values reach the cluster Secret, and `{{ lookup ... }}` in one would otherwise run inside the release."""
    return text.replace("{{", '{{"{{"}}')


def cluster_key(cluster: ClusterRef) -> str:
    """The cluster Secret's key (its name `argocd-cluster-<key>`, and Argo CD's name for the cluster)."""
    key = re.sub(r"[^a-z0-9-]", "-", cluster.name.lower()).strip("-")[:63].strip("-")
    return key or "in-cluster"


def ui_settings(expose: Expose | None) -> dict[str, str]:
    """`ui.expose` as chart values: the argocd-server Service type, internal on Azure's internal load balancer."""
    if expose is None:
        return {}
    settings = {"server.service.type": "ClusterIP" if expose == "none" else "LoadBalancer"}
    if expose == "internalLoadBalancer":
        settings[f"server.service.annotations.{helm_key(INTERNAL_LB)}"] = "true"
    return settings


def render_gitops(gitops: GitOps, cluster: ClusterRef, facts: ClusterFacts, identity_client_id: str | None,
                  secret: str | None, namespace: str) -> GitOpsSettings:
    """All the gitops keys for this cluster; `secret` is the Key Vault value when the repository uses one."""
    root = gitops.root
    view = root_view(root, cluster, facts)
    base = {SECRET_KEY: cluster_secret(gitops, cluster, facts, identity_client_id, view, namespace),
            **_repository(gitops, root.repo_url)}
    protected = repository_protected(gitops, secret)
    if protected and root.repo_url.startswith("https://"):
        base[f"configs.credentialTemplates.{REPOSITORY}.username"] = gitops.repository.username
    return GitOpsSettings(base=base, root={ROOT_KEY: root_application(root, view, namespace)}, protected=protected,
                          view=view)


def repository_protected(gitops: GitOps, secret: str | None) -> dict[str, Protected]:
    """The protected setting a Key Vault secret becomes: the token of an https repository, or the private key of
    an ssh one. Empty unless `auth: keyVault`."""
    vault_secret = gitops.repository.key_vault_secret
    if gitops.repository.auth != "keyVault" or vault_secret is None:
        return {}
    if secret is None:
        raise ValueError("auth: keyVault needs the secret read from Key Vault")
    field_name = "password" if gitops.root.repo_url.startswith("https://") else "sshPrivateKey"
    return {f"configs.credentialTemplates.{REPOSITORY}.{field_name}":
            Protected(value=secret, label=f"<from Key Vault: {vault_secret.name}>")}


def root_application(root: RootApp, view: RootView, namespace: str) -> str:
    """The root Application manifest, as the YAML string `extraObjects[1]` (ROOT_KEY) holds."""
    spec: dict[str, object] = {
        "project": root.project,
        "source": {"repoURL": view.repo_url, "path": view.path, "targetRevision": view.target_revision},
        "destination": {"server": IN_CLUSTER, "namespace": root.destination_namespace},
    }
    if root.automated:
        spec["syncPolicy"] = {"automated": {"prune": True, "selfHeal": True}}
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": root.name, "namespace": namespace}, "spec": spec}
    return _manifest(app)


def _manifest(obj: Mapping[str, object]) -> str:
    """A manifest as an `extraObjects` string: YAML (every value a string stays a string), `{{` escaped."""
    import yaml  # on first use, not at import: keeps indexing (cold start) fast

    return tpl_escape(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))


def protected_hash(cluster: ClusterRef, protected: Mapping[str, Protected]) -> str | None:
    """What the ledger keeps to notice a rotated secret: a salted, slow hash (never the secret; Azure returns
    protected settings empty, so this is the only way to see drift on them)."""
    if not protected:
        return None
    text = json.dumps({k: v.value for k, v in sorted(protected.items())}).encode()
    return hashlib.pbkdf2_hmac("sha256", text, f"argoboot-protected:{cluster.key}".encode(),
                               _HASH_ITERATIONS).hex()[:32]


def _checked_path(path: str, root: RootApp) -> str:
    """A path filled from tags is checked again: tag values are written by whoever may tag the cluster."""
    try:
        check_path(path, "the cluster's tags", "gitops.root.path")
    except ProfileError:
        raise PermanentError("InvalidRootPath", f"gitops.root.path {root.path!r} renders as {path!r} for this "
                             "cluster, which is not a path inside the repository (empty parts, absolute, with .. or "
                             "characters other than letters, digits, . _ - /). Fix the cluster's tags or the "
                             "profile, then send the request again") from None
    return path


def _checked_revision(revision: str, root: RootApp) -> str:
    if not REVISION.match(revision):
        raise PermanentError("InvalidRootRevision", f"gitops.root.targetRevision {root.target_revision!r} renders "
                             f"as {revision!r} for this cluster, which is not a branch, tag or commit. Fix the "
                             "cluster's tags or the profile, then send the request again")
    return revision


def cluster_secret(gitops: GitOps, cluster: ClusterRef, facts: ClusterFacts, identity_client_id: str | None,
                   view: RootView, namespace: str) -> str:
    """The in-cluster cluster Secret as an `extraObjects` string, with the labels and annotations GitOps Bridge and
    the AKS platform-engineering sample read (docs/integration.md, GitOps Bridge)."""
    labels, annotations = bridge_metadata(gitops, cluster, facts, identity_client_id, view)
    key = cluster_key(cluster)
    return _manifest({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": f"argocd-cluster-{key}", "namespace": namespace,
                     "labels": {"argocd.argoproj.io/secret-type": "cluster", **labels}, "annotations": annotations},
        "type": "Opaque",
        "stringData": {"name": key, "server": IN_CLUSTER,
                       "config": json.dumps({"tlsClientConfig": {"insecure": False}})},
    })


def root_view(root: RootApp, cluster: ClusterRef, facts: ClusterFacts) -> RootView:
    """The root Application's repository, path and revision for this cluster (tags filled in, checked)."""
    return RootView(repo_url=root.repo_url, path=_checked_path(fill(root.path, cluster, facts), root),
                    target_revision=_checked_revision(fill(root.target_revision, cluster, facts), root))


def bridge_metadata(gitops: GitOps | None, cluster: ClusterRef, facts: ClusterFacts, identity_client_id: str | None,
                    view: RootView | None) -> tuple[dict[str, str], dict[str, str]]:
    """A cluster Secret's labels and annotations in the GitOps Bridge style (for the in-cluster Secret, and for a
    spoke's Secret on its hub): the cluster's own, then the profile's gitops metadata when it has a gitops section."""
    labels = {"cluster_name": cluster.name, "cluster_kind": cluster.kind, "location": facts.location}
    if gitops is not None:
        labels.update({k: fill(v, cluster, facts) for k, v in gitops.labels.items()})
    annotations = {"cluster_name": cluster.name, "cluster_kind": cluster.kind,
                   "subscription_id": cluster.subscription, "resource_group": cluster.resource_group,
                   "location": facts.location}
    if facts.tenant_id:
        annotations["tenant_id"] = facts.tenant_id
    if identity_client_id:  # the identity the service made for Argo CD; the AKS sample calls it akspe_identity_id
        annotations["workload_identity_client_id"] = annotations["akspe_identity_id"] = identity_client_id
    if facts.kubelet_client_id:
        annotations["kubelet_identity_client_id"] = facts.kubelet_client_id
    if gitops is not None and view is not None:
        _gitops_metadata(gitops, view, labels, annotations, cluster, facts)
    for name, raw in labels.items():
        labels[name] = label_value(raw)
        if labels[name] != raw:
            annotations.setdefault(name, raw)  # what a label cannot hold exactly is kept whole as an annotation
    if "environment" in labels:  # GitOps Bridge reads it both ways (selectors, and values files by environment)
        annotations.setdefault("environment", labels["environment"])
    return labels, annotations


def _gitops_metadata(gitops: GitOps, view: RootView, labels: dict[str, str], annotations: dict[str, str],
                     cluster: ClusterRef, facts: ClusterFacts) -> None:
    """The profile's addons, workload folder and own labels and annotations (GitOps Bridge), added in place."""
    if gitops.addons is not None:
        annotations.update(_folder("addons", gitops.addons.folder, view))
        labels.update(addon_labels(gitops.addons))
        annotations.update(addon_annotations(gitops.addons))
        if overlaps(gitops.addons.folder.full_path, view.path):
            raise PermanentError("InvalidAddonsPath", f"gitops.addons {gitops.addons.folder.full_path!r} and the root "
                                 f"Application's path {view.path!r} hold one another for this cluster: GitOps "
                                 "Bridge's bootstrap ApplicationSet would sync the root's files a second time. Keep "
                                 "the addon ApplicationSets in a folder of their own, then send the request again")
    if gitops.workload is not None:
        annotations.update(_folder("workload", gitops.workload, view))
    annotations.update({k: fill(v, cluster, facts) for k, v in gitops.annotations.items()})


def _folder(prefix: str, folder: RepoFolder, view: RootView) -> dict[str, str]:
    """`<prefix>_repo_url|basepath|path|revision`: the root's repository and revision unless the folder names its
    own."""
    return {f"{prefix}_repo_url": folder.repo_url or view.repo_url, f"{prefix}_repo_basepath": folder.base_path,
            f"{prefix}_repo_path": folder.path,
            f"{prefix}_repo_revision": folder.target_revision or view.target_revision}


def _repository(gitops: GitOps, repo_url: str) -> dict[str, str]:
    settings = {f"configs.repositories.{REPOSITORY}.url": repo_url,
                f"configs.repositories.{REPOSITORY}.type": "git",
                f"configs.repositories.{REPOSITORY}.name": gitops.root.name}
    if gitops.repository.auth != "none":
        settings[f"configs.credentialTemplates.{REPOSITORY}.url"] = repo_url
    if gitops.repository.auth == "workloadIdentity":
        settings[f"configs.credentialTemplates.{REPOSITORY}.useAzureWorkloadIdentity"] = "true"
    return settings
