"""Which `Microsoft.ArgoCD` versions a cluster can take, from the KubernetesConfiguration extension-types API.

`GET /subscriptions/{s}/providers/Microsoft.KubernetesConfiguration/locations/{region}/extensionTypes/
Microsoft.ArgoCD/versions?releaseTrain=preview` lists what the region offers on the train; each version says
which cluster types take it and which Kubernetes versions (per distribution) it does not support, as ranges
such as `1.18..1.21` or `>1.22`. Asked by region (not by cluster) so the answer is cached per region and train.
Pure parsing and matching here; `shared.azure.arm_gateway` sends the request.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.bootstrap.cluster_ids import ClusterKind

#: The extension-types API's 404 code when it knows of no such type in the region (the emulator's, as Azure's is not
#: documented): Azure saying no. Other 404s (`InvalidResourceType`: the API is not served there) say nothing.
TYPE_NOT_FOUND = "ExtensionTypeNotFound"
#: The API's names for the cluster types (`supportedClusterTypes`, keys of `unsupportedKubernetesVersions`).
CLUSTER_TYPES: dict[ClusterKind, str] = {"aks": "managedCluster", "arc": "connectedCluster"}


@dataclass(frozen=True)
class Unsupported:
    cluster_type: str
    distributions: tuple[str, ...]
    ranges: tuple[str, ...]


@dataclass(frozen=True)
class ExtensionTypeVersion:
    version: str
    cluster_types: tuple[str, ...]
    unsupported: tuple[Unsupported, ...] = ()

    def takes(self, kind: ClusterKind, distribution: str | None, kubernetes: str | None) -> bool:
        """Whether a cluster of this kind, distribution and Kubernetes version can install this version."""
        cluster_type = CLUSTER_TYPES[kind]
        if self.cluster_types and cluster_type.lower() not in (t.lower() for t in self.cluster_types):
            return False
        if kubernetes is None:
            return True
        for rule in self.unsupported:
            applies = not rule.distributions or (distribution or "").lower() in (d.lower() for d in rule.distributions)
            if rule.cluster_type.lower() == cluster_type.lower() and applies and \
                    any(in_range(kubernetes, r) for r in rule.ranges):
                return False
        return True


def parse_versions(body: Any) -> list[ExtensionTypeVersion]:
    """The `value` of a versions list (ExtensionTypeVersionsList), ignoring entries without a version; ValueError
    for an answer of another shape (no `value` list), which says nothing about what is offered."""
    items = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        raise ValueError("the answer has no `value` list of versions")
    found = []
    for item in items:
        props = item.get("properties") if isinstance(item, Mapping) else None
        if not isinstance(props, Mapping) or not isinstance(props.get("version"), str):
            continue
        rules = []
        for cluster_type, entries in (props.get("unsupportedKubernetesVersions") or {}).items():
            for entry in entries or []:
                if isinstance(entry, Mapping):
                    rules.append(Unsupported(str(cluster_type), _strings(entry.get("distributions")),
                                             _strings(entry.get("unsupportedVersions"))))
        found.append(ExtensionTypeVersion(props["version"], _strings(props.get("supportedClusterTypes")),
                                          tuple(rules)))
    return found


def in_range(version: str, spec: str) -> bool:
    """`1.33.3` against `1.18..1.21`, `>1.22`, `>=1.30`, `<1.20`, `<=1.21` or `1.25` (that minor, any patch)."""
    have = _numbers(version)
    spec = spec.strip()
    if ".." in spec:
        low, high = (_numbers(part) for part in spec.split("..", 1))
        return low <= have[:len(low)] and have[:len(high)] <= high
    match = re.match(r"^(>=|<=|>|<)?\s*(.+)$", spec)
    if match is None:
        return False
    op, bound = match.group(1) or "=", _numbers(match.group(2))
    mine = have[:len(bound)]
    return {"=": mine == bound, ">": mine > bound, ">=": mine >= bound, "<": mine < bound,
            "<=": mine <= bound}[op]


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text.split("-", 1)[0])[:3])


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, Sequence) and not isinstance(value, str) else ()
