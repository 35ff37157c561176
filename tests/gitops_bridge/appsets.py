"""A small evaluator of Argo CD ApplicationSets with the cluster generator, as Argo CD documents it, for the tests only.

What it follows (argo-cd docs, operator-manual/applicationset: Generators-Cluster, Generators-Merge,
GoTemplate; the selector is Kubernetes' label selector):
- every cluster Secret (label `argocd.argoproj.io/secret-type: cluster`) gives parameters `name`, `nameNormalized`,
  `server`, `project`, `metadata.labels.<key>`, `metadata.annotations.<key>`, and `values.<key>` from the
  generator's `values` (themselves templated with the cluster's parameters);
- `selector`: `matchLabels` and `matchExpressions` (In, NotIn, Exists, DoesNotExist), all of them must hold; NotIn
  and DoesNotExist hold when the label is absent; an empty selector selects every cluster Secret;
- `merge` with `mergeKeys`: the first generator's parameter sets, each overridden by the later generators' sets that
  agree on the merge keys;
- templates: fasttemplate (`{{metadata.labels.x}}`; an unknown parameter is left as it is) or, with
  `goTemplate: true`, Go templates over nested parameters (`{{ .metadata.labels.x }}`, `{{ index
  .metadata.annotations "x" }}`, `{{ default "v" .x.y }}`; a missing key prints `<no value>`). Any other Go template
  action is refused (`Unsupported`), so a fixture never passes by being misread.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SECRET_TYPE = "argocd.argoproj.io/secret-type"
_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_FIELD = r"(\.[A-Za-z0-9_]+)+"
_STRING = r'"((?:[^"\\]|\\.)*)"'


class Unsupported(ValueError):
    """A template action this evaluator does not evaluate."""


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes' label selector semantics."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In":
            ok = present and labels[key] in values
        elif operator == "NotIn":
            ok = not present or labels[key] not in values
        elif operator == "Exists":
            ok = present
        elif operator == "DoesNotExist":
            ok = not present
        else:
            raise Unsupported(f"selector operator {operator}")
        if not ok:
            return False
    return True


def _cluster_params(secret: Mapping[str, Any]) -> dict[str, Any]:
    """Nested parameters of one cluster Secret (goTemplate's view; fasttemplate flattens them)."""
    data, metadata = secret.get("stringData") or {}, secret.get("metadata") or {}
    name = str(data.get("name", ""))
    return {"name": name, "nameNormalized": re.sub(r"[^a-z0-9.-]", "-", name.lower()), "server": data.get("server"),
            "project": data.get("project", ""),
            "metadata": {"labels": dict(metadata.get("labels") or {}),
                         "annotations": dict(metadata.get("annotations") or {})}}


def _flat(params: Mapping[str, Any]) -> dict[str, str]:
    flat = {k: str(v) for k, v in params.items() if not isinstance(v, Mapping)}
    for kind in ("labels", "annotations"):
        flat.update({f"metadata.{kind}.{k}": v for k, v in params["metadata"][kind].items()})
    flat.update({f"values.{k}": v for k, v in (params.get("values") or {}).items()})
    return flat


def render(text: str, params: Mapping[str, Any], go: bool) -> str:
    """One string of a template, with the cluster's parameters."""
    if not go:
        flat = _flat(params)
        return _TAG.sub(lambda m: flat.get(m.group(1).strip(), m.group(0)), text)
    return _TAG.sub(lambda m: _go_action(m.group(1).strip(), params), text)


def _go_action(action: str, params: Mapping[str, Any]) -> str:
    if re.fullmatch(_FIELD, action):
        return _lookup(action, params)
    index = re.fullmatch(rf"index ({_FIELD}) {_STRING}", action)
    if index:
        found = _get(index.group(1), params)
        return str(found.get(index.group(3), "<no value>")) if isinstance(found, Mapping) else "<no value>"
    default = re.fullmatch(rf"default {_STRING} ({_FIELD})", action)
    if default:
        value = _lookup(default.group(2), params)
        return default.group(1) if value in ("", "<no value>") else value
    raise Unsupported(f"Go template action {{{{{action}}}}}")


def _get(path: str, params: Mapping[str, Any]) -> Any:
    node: Any = params
    for part in path.strip(".").split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _lookup(path: str, params: Mapping[str, Any]) -> str:
    value = _get(path, params)
    return "<no value>" if value is None else str(value)


def _apply(node: Any, params: Mapping[str, Any], go: bool) -> Any:
    if isinstance(node, str):
        return render(node, params, go)
    if isinstance(node, list):
        return [_apply(item, params, go) for item in node]
    if isinstance(node, Mapping):
        return {k: _apply(v, params, go) for k, v in node.items()}
    return node


def _generate(generator: Mapping[str, Any], secrets: list[Mapping[str, Any]], go: bool) -> list[dict[str, Any]]:
    if "clusters" in generator:
        spec = generator["clusters"] or {}
        found = []
        for secret in secrets:
            if not selects(spec.get("selector"), (secret.get("metadata") or {}).get("labels") or {}):
                continue
            params = _cluster_params(secret)
            params["values"] = {k: render(str(v), params, go) for k, v in (spec.get("values") or {}).items()}
            found.append(params)
        return found
    if "merge" in generator:
        spec = generator["merge"]
        keys = spec["mergeKeys"]
        first, *others = [_generate(g, secrets, go) for g in spec["generators"]]
        for extra in (p for sets in others for p in sets):
            for base in first:
                if all(base.get(k) == extra.get(k) for k in keys):
                    base["values"] = {**base.get("values", {}), **extra.get("values", {})}
        return first
    raise Unsupported(f"generator {sorted(generator)}")


def applications(appset: Mapping[str, Any], secrets: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The Applications an ApplicationSet generates from these cluster Secrets (only those of type cluster count)."""
    clusters = [s for s in secrets if ((s.get("metadata") or {}).get("labels") or {}).get(SECRET_TYPE) == "cluster"]
    spec = appset["spec"]
    go = bool(spec.get("goTemplate"))
    return [_apply(spec["template"], params, go) for generator in spec["generators"]
            for params in _generate(generator, clusters, go)]


def unresolved(node: Any) -> list[str]:
    """Strings of a generated Application still holding a template or Go's missing-key text."""
    if isinstance(node, str):
        return [node] if "{{" in node or "<no value>" in node else []
    if isinstance(node, list):
        return [s for item in node for s in unresolved(item)]
    if isinstance(node, Mapping):
        return [s for value in node.values() for s in unresolved(value)]
    return []
