"""Reading infra/ the way checkov does: every .bicep file through pycep-parser, the parser checkov itself uses."""
from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
ONBOARD = INFRA / "onboard-subscription.bicep"
FUNCTION_APP = INFRA / "modules" / "functionapp.bicep"
CLUSTER_EVENTS = INFRA / "modules" / "cluster-events.bicep"
ROLE_MODULE = INFRA / "modules" / "bootstrapper-role.bicep"
ROLE_ASSIGNMENT = INFRA / "modules" / "bootstrapper-role-assignment.bicep"
ROLE_JSON = INFRA / "bootstrapper-role.json"

_RESOURCE_LINE = re.compile(r"^\s*resource\s+(\w+)\s+'", re.MULTILINE)


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    tree: Any = BicepParser().parse(text=path.read_text())
    assert isinstance(tree, dict), f"{path}: pycep returned {type(tree)}"
    return tree


def declared_resources(path: Path) -> list[str]:
    """Symbolic names of the `resource` declarations in the text, to check the parser kept every one."""
    return _RESOURCE_LINE.findall(path.read_text())


def resources_of_type(path: Path, resource_type: str) -> list[dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = parse(path).get("resources", {})
    return [r for r in resources.values() if r["type"].lower() == resource_type.lower()]


def one_resource(path: Path, resource_type: str) -> dict[str, Any]:
    found = resources_of_type(path, resource_type)
    assert len(found) == 1, f"{path.relative_to(ROOT)}: expected one {resource_type}, found {len(found)}"
    return found[0]


def app_settings() -> dict[str, Any]:
    """The function app's settings: `var appSettings` in infra/modules/functionapp.bicep, name -> Bicep expression."""
    variables = parse(FUNCTION_APP)["variables"]
    assert "appSettings" in variables, "infra/modules/functionapp.bicep: `var appSettings = {...}` is gone"
    settings: dict[str, Any] = variables["appSettings"]["value"]
    return settings


def role_actions(*, enable_workload_identity_on_clusters: bool = True) -> list[str]:
    """The custom roles' actions as deployed (the cluster role's and the identity role's, which together are what the
    app may do where both are assigned): by default with every optional feature on (the most it may hold)."""
    role = json.loads(ROLE_JSON.read_text())
    actions: list[str] = role["actions"] + role["identityRole"]["actions"]
    if enable_workload_identity_on_clusters:
        actions = actions + role["enableWorkloadIdentityOnClusters"]["actions"]
    return actions


def module_paths(path: Path) -> set[Path]:
    modules: dict[str, dict[str, Any]] = parse(path).get("modules", {})
    return {(path.parent / m["detail"]["path"]).resolve() for m in modules.values() if m["type"] == "local"}


def required_parameters(path: Path) -> set[str]:
    """Parameters without a default (pycep gives those `default: None`), which every deployment must pass."""
    return {name for name, p in parse(path).get("parameters", {}).items() if p.get("default") is None}


def sweep_window(sweep_interval_minutes: int) -> str:
    """The no-sweep alert's window for this interval, by evaluating alerts.bicep's `var sweepWindow` chain."""
    text = (INFRA / "modules" / "alerts.bicep").read_text()
    chain = re.search(r"^var sweepWindow = (.*)$", text, re.MULTILINE)
    assert chain, "alerts.bicep: `var sweepWindow = ...` is gone"
    wanted = 2 * sweep_interval_minutes
    for limit, window in re.findall(r"wanted <= (\d+) \? '(\w+)'", chain.group(1)):
        if wanted <= int(limit):
            return window
    last = re.search(r": '(\w+)'$", chain.group(1).strip())
    assert last, "alerts.bicep: sweepWindow has no last choice"
    return last.group(1)
