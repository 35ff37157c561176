"""azure.yaml, the parameters file and the postdeploy hook agree with the Bicep they drive."""
from __future__ import annotations

import json
import re

import yaml

from tests.infra.bicep import CLUSTER_EVENTS, INFRA, MAIN, ROOT, parse

HOOKS = [INFRA / "scripts" / "subscribe-cluster-events.sh", INFRA / "scripts" / "subscribe-cluster-events.ps1"]
AZD_PROVIDES = {"AZURE_ENV_NAME", "AZURE_SUBSCRIPTION_ID"}  # azd's own environment values, not main.bicep outputs


def test_azure_yaml_deploys_this_folder_as_a_python_function_app_with_main_bicep() -> None:
    config = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert (ROOT / config["infra"]["path"] / f"{config['infra']['module']}.bicep") == MAIN
    (service,) = config["services"].values()
    assert service == {"project": ".", "language": "python", "host": "function"}
    # azd finds the app to publish to by this tag.
    assert list(config["services"]) == ["app"]
    assert "{ 'azd-service-name': 'app' }" in (INFRA / "modules" / "functionapp.bicep").read_text()
    for hook in config["hooks"]["postdeploy"].values():
        assert (ROOT / hook["run"]).resolve() in {h.resolve() for h in HOOKS}


def test_parameters_file_names_only_main_bicep_parameters_and_all_required_ones() -> None:
    params = parse(MAIN)["parameters"]
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) - set(params) == set(), "parameters main.bicep does not declare"
    required = {name for name, p in params.items() if "default" not in p}
    assert required - set(given) == set(), "required parameters the file does not give"


def test_hooks_pass_the_cluster_events_module_its_parameters_from_main_outputs() -> None:
    module_params = parse(CLUSTER_EVENTS)["parameters"]
    required = {name for name, p in module_params.items() if "default" not in p}
    outputs = set(parse(MAIN)["outputs"])
    for hook in HOOKS:
        text = hook.read_text()
        passed = set(re.findall(r"^\s+(\w+)=", text, re.MULTILINE))
        assert passed - set(module_params) == set() and required - passed == set(), hook.name
        variable = r"\$env:([A-Z][A-Z0-9_]+)" if hook.suffix == ".ps1" else r"\$\{?([A-Z][A-Z0-9_]+)"
        used = set(re.findall(variable, text)) - AZD_PROVIDES
        assert used, hook.name
        assert used - outputs == set(), f"{hook.name} reads values main.bicep does not output"
