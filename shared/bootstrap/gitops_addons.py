"""The `gitops.addons` and `gitops.workload` sections of a profile: what GitOps Bridge's ApplicationSets read.

GitOps Bridge (gitops-bridge-dev) and the AKS platform-engineering sample select clusters for an addon with the
label `enable_<addon>` In ['true'], pin its chart with the label `<addon>_chart_version`, send it to the namespace in
the annotation `<addon>_namespace`, and sync the folder of addon ApplicationSets named by the annotations
`addons_repo_url` + `addons_repo_basepath` + `addons_repo_path` at `addons_repo_revision` (`workload_repo_*` for
workloads). Parsed by `shared.bootstrap.gitops_profile` with the grammars here; rendered by `shared.bootstrap.gitops`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

#: An addon's name: lower-case snake_case as GitOps Bridge writes them (cert_manager), at most 49 characters so that
#: `<addon>_chart_version` stays a 63-character label name; no hyphen, so `.metadata.annotations.<addon>_namespace`
#: is a field path in goTemplate ApplicationSets too.
ADDON_NAME = re.compile(r"^[a-z]([a-z0-9_]{0,47}[a-z0-9])?$")
#: A chart version as a label value holds it: 63 characters, letters, digits, - _ . inside (no semver `+build`).
CHART_VERSION = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
ADDON_KEYS = frozenset({"namespace", "chartVersion"})
REPO_KEYS = frozenset({"repoURL", "basePath", "path", "targetRevision"})
ADDONS_KEYS = frozenset({*REPO_KEYS, "enable"})


@dataclass(frozen=True)
class Addon:
    namespace: str | None = None
    chart_version: str | None = None


@dataclass(frozen=True)
class RepoFolder:
    """A folder of a repository as GitOps Bridge names one: `<prefix>_repo_url|basepath|path|revision`. None for the
    URL or revision: the root Application's."""

    path: str
    base_path: str = ""
    repo_url: str | None = None
    target_revision: str | None = None

    @property
    def full_path(self) -> str:
        """What GitOps Bridge's bootstrap ApplicationSet syncs: basepath and path, concatenated."""
        return f"{self.base_path}{self.path}"


@dataclass(frozen=True)
class Addons:
    folder: RepoFolder
    enabled: Mapping[str, Addon] = field(default_factory=dict)


def addon_labels(addons: Addons) -> dict[str, str]:
    """`enable_<addon>: "true"` and `<addon>_chart_version` for each addon the profile enables."""
    labels = {}
    for name, addon in addons.enabled.items():
        labels[f"enable_{name}"] = "true"
        if addon.chart_version is not None:
            labels[f"{name}_chart_version"] = addon.chart_version
    return labels


def addon_annotations(addons: Addons) -> dict[str, str]:
    """`<addon>_namespace` for each addon whose namespace the profile names."""
    return {f"{name}_namespace": a.namespace for name, a in addons.enabled.items() if a.namespace is not None}


def overlaps(a: str, b: str) -> bool:
    """Whether one repository folder holds the other (or they are the same): two Applications would own its files."""
    first, second = a.strip("/").split("/"), b.strip("/").split("/")
    shorter = min(len(first), len(second))
    return first[:shorter] == second[:shorter]
