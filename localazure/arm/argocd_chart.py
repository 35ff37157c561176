"""What the argo-helm `argo-cd` chart makes of a Microsoft.ArgoCD extension's configuration settings.

The extension hands its settings to the chart as Helm `--set` paths: dots nest (a backslash escapes a literal
dot), `[n]` indexes a list, and values are typed as `--set` types them (true/false, null, integers, `{x}` a
list), each value escaped so that a comma or backslash in it is kept (a backslash before each): the one reading
under which both of Microsoft's documented examples work (`redis-ha.enabled=false` a boolean, `policy.csv` holding
commas; argocd-2026.md section 2). tests/helm/ check this model against a real Helm binary.
From that values tree this module renders what the chart's templates would: the cluster Secrets
(`templates/argocd-configs/cluster-secrets.yaml`), the repository and credential-template Secrets
(`repository-secret.yaml`, `repository-credentials-secret.yaml`) and `extraObjects` (`extra-manifests.yaml`,
where a string entry is a template run through `tpl`: only the escape `{{"{{"}}` is evaluated here). It refuses
what the chart or the API server would refuse (a repository value that is not a string reaches `b64enc`, a label
value that is not a string), so the emulator's extension fails like the real one, and the tests and the demo read
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
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT64 = 2**63
#: The one template action the service's extraObjects strings hold: it prints `{{`.
_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_ESCAPE = re.compile(r'^-?\s*"\{\{"\s*-?$')
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
    """Helm's strvals typing (typedVal): case-insensitive true/false/null, "0", and base-10 int64 not starting with 0;
    a value that starts with `{` is a list (its commas escaped: one item)."""
    if raw.startswith("{"):
        if not raw.endswith("}") or "}" in raw[1:-1]:
            raise ChartError(f"failed parsing --set data: {raw[:40]!r} is neither a list {{...}} nor a value")
        return [_typed(raw[1:-1])]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lower() == "null":
        return None
    if raw == "0" or (_INT.match(raw) and not raw.startswith("0") and -_INT64 <= int(raw) < _INT64):
        return int(raw)
    return raw


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


def tpl(text: str) -> str:
    """The chart's `tpl` on a string entry, for the one action the service writes (`{{"{{"}}` prints `{{`); any other
    action is refused, since this model does not evaluate templates."""
    def action(match: re.Match[str]) -> str:
        if not _ESCAPE.match(match.group(1)):
            raise ChartError(f"extraObjects: the template action {match.group(0)[:60]!r} would run in the release "
                             "(tpl); the emulator evaluates only the escape {{\"{{\"}}")
        return "{{"
    return _ACTION.sub(action, text)


def extra_objects(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`extraObjects` as manifests: a string entry through `tpl` and parsed as YAML (a stream of documents, as Helm
    splits the rendered template on `---`), a mapping taken as it is."""
    objects: list[dict[str, Any]] = []
    for entry in values.get("extraObjects") or []:
        try:
            parsed = list(yaml.safe_load_all(tpl(entry))) if isinstance(entry, str) else [entry]
        except yaml.YAMLError as error:
            raise ChartError(f"extraObjects: YAML parse error: {error}") from None
        objects.extend(p for p in parsed if isinstance(p, dict))
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
    """Every cluster Secret of the release: `configs.clusterCredentials`, rendered as cluster-secrets.yaml does
    (annotations quoted, labels as typed), and the Secrets in `extraObjects` labelled as clusters."""
    in_extra = [o for o in extra_objects(values) if o.get("kind") == "Secret" and
                ((o.get("metadata") or {}).get("labels") or {}).get("argocd.argoproj.io/secret-type") == "cluster"]
    return [*credential_secrets(values, namespace), *in_extra]


def rendered_objects(values: Mapping[str, Any], namespace: str = "argocd") -> list[dict[str, Any]]:
    """What the chart renders from the gitops keys, each object once: cluster and repository Secrets, extraObjects."""
    return [*credential_secrets(values, namespace), *repository_secrets(values, namespace), *extra_objects(values)]


def credential_secrets(values: Mapping[str, Any], namespace: str = "argocd") -> list[dict[str, Any]]:
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


def check_labels(secret: Mapping[str, Any]) -> None:
    """Refuse, as the API server's decoding does, a Secret whose label values are not all strings."""
    for key in invalid_labels(secret):
        value = secret["metadata"]["labels"][key]
        raise ChartError(f"unable to build kubernetes objects from release manifest: json: cannot unmarshal "
                         f"{'bool' if isinstance(value, bool) else 'number'} into Go struct field "
                         f"ObjectMeta.metadata.labels of type string (label {key} of {secret['metadata']['name']})")


def _quote(value: Any) -> str:
    """Helm's `quote`/`toString`: booleans and numbers as their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
