"""What the argo-helm `argo-cd` chart makes of a Microsoft.ArgoCD extension's configuration settings.

The extension hands its settings to the chart as Helm `--set` paths: dots nest (a backslash escapes a literal
dot), `[n]` indexes a list, and values are typed as `--set` types them (true/false, null, integers).
From that values tree this module renders what the chart's templates would: the cluster Secrets
(`templates/argocd-configs/cluster-secrets.yaml`), the repository and credential-template Secrets
(`repository-secret.yaml`, `repository-credentials-secret.yaml`) and `extraObjects` (`extra-manifests.yaml`,
where a string entry is a manifest). It refuses what the chart would refuse (a repository value that is not a
string reaches `b64enc`), so the emulator's extension fails like the real one, and the tests and the demo read
the objects the cluster would hold.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

_INDEX = re.compile(r"^(.*?)\[(\d+)\]$")
_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
CRD_GROUP = "argoproj.io"  # the chart's own CRDs: Application, ApplicationSet, AppProject


class ChartError(ValueError):
    """The chart cannot render these values (Helm's own message)."""


def values_tree(settings: Mapping[str, str]) -> dict[str, Any]:
    """The values Helm builds from `--set key=value` for each setting, in key order."""
    tree: dict[str, Any] = {}
    for key, raw in sorted(settings.items()):
        _set(tree, _split(key), _typed(raw))
    return tree


def _split(key: str) -> list[str]:
    parts, current, escaped = [], "", False
    for char in key:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _typed(raw: str) -> Any:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lower() == "null":
        return None
    return int(raw) if _INT.match(raw) else raw


def _set(node: Any, parts: list[str], value: Any) -> None:
    head, rest = parts[0], parts[1:]
    index_match = _INDEX.match(head)
    if index_match:
        name, index = index_match.group(1), int(index_match.group(2))
        items = node.setdefault(name, [])
        items.extend([None] * (index + 1 - len(items)))
        if not rest:
            items[index] = value
            return
        if not isinstance(items[index], dict):
            items[index] = {}
        _set(items[index], rest, value)
        return
    if not rest:
        node[head] = value
        return
    child = node.get(head)
    if not isinstance(child, dict):
        child = node[head] = {}
    _set(child, rest, value)


def extra_objects(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`extraObjects` as manifests: a string entry is parsed as YAML, a mapping taken as it is."""
    objects = []
    for entry in values.get("extraObjects") or []:
        parsed = yaml.safe_load(entry) if isinstance(entry, str) else entry
        if isinstance(parsed, dict):
            objects.append(parsed)
    return objects


def custom_resources(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The extra objects whose kinds come from the chart's own CRDs."""
    return [o for o in extra_objects(values) if str(o.get("apiVersion", "")).split("/")[0] == CRD_GROUP]


def crd_missing_message(resource: Mapping[str, Any], namespace: str) -> str:
    """Helm's refusal of a release that holds a resource of a CRD the same release installs."""
    metadata = resource.get("metadata") or {}
    return (
        "The extension operation failed with the following error:  Error: [ InnerError: [Helm installation failed : "
        "unable to build kubernetes objects from release manifest: resource mapping not found for name: "
        f"\"{metadata.get('name', '')}\" namespace: \"{metadata.get('namespace', namespace)}\" from \"\": no matches "
        f"for kind \"{resource.get('kind')}\" in version \"{resource.get('apiVersion')}\"\nensure CRDs are installed "
        "first]] occurred while doing the operation : [Create] on the config, For general troubleshooting visit: "
        "https://aka.ms/k8s-extensions-TSG"
    )


def cluster_secrets(values: Mapping[str, Any], namespace: str = "argocd") -> list[dict[str, Any]]:
    """`configs.clusterCredentials`, rendered as cluster-secrets.yaml does (annotations quoted, labels as typed)."""
    secrets = []
    for key, cluster in sorted(((values.get("configs") or {}).get("clusterCredentials") or {}).items()):
        if not isinstance(cluster, dict) or not cluster.get("server") or cluster.get("config") is None:
            raise ChartError(f"A valid .Values.configs.clusterCredentials.{key}.server and .config entry is required!")
        labels = {**(cluster.get("labels") or {}), "argocd.argoproj.io/secret-type": "cluster"}
        secrets.append({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": f"argocd-cluster-{key}", "namespace": namespace, "labels": labels,
                         "annotations": {k: _quote(v) for k, v in (cluster.get("annotations") or {}).items()}},
            "type": "Opaque",
            "stringData": {"name": key, "server": cluster["server"], "config": json.dumps(cluster["config"])},
        })
    return secrets


def repository_secrets(values: Mapping[str, Any], namespace: str = "argocd") -> list[dict[str, Any]]:
    """`configs.repositories` (values must be strings: the template pipes them to b64enc) and
    `configs.credentialTemplates` (the template runs toString first)."""
    configs = values.get("configs") or {}
    secrets = []
    for section, prefix, secret_type, strict in (("repositories", "argocd-repo-", "repository", True),
                                                 ("credentialTemplates", "argocd-repo-creds-", "repo-creds", False)):
        for key, fields in sorted((configs.get(section) or {}).items()):
            data = {}
            for name, value in (fields or {}).items():
                if strict and not isinstance(value, str):
                    raise ChartError(f"template: argo-cd/templates/argocd-configs/repository-secret.yaml: error "
                                     f"calling b64enc: wrong type for value; expected string; got "
                                     f"{type(value).__name__} (configs.repositories.{key}.{name})")
                data[name] = base64.b64encode(_quote(value).encode()).decode()
            secrets.append({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": f"{prefix}{key}", "namespace": namespace,
                                         "labels": {"argocd.argoproj.io/secret-type": secret_type}},
                            "data": data})
    return secrets


def invalid_labels(secret: Mapping[str, Any]) -> list[str]:
    """Labels Kubernetes would refuse: a label value must be a string (a typed --set value is not)."""
    return [k for k, v in (secret.get("metadata", {}).get("labels") or {}).items() if not isinstance(v, str)]


def _quote(value: Any) -> str:
    """Helm's `quote`/`toString`: booleans and numbers as their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
