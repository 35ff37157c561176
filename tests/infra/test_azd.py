"""azure.yaml, the parameters file and the postdeploy hook agree with the Bicep they drive."""
from __future__ import annotations

import fnmatch
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


def _ignored(path: str, patterns: list[str]) -> bool:
    """gitignore-style, as far as .funcignore uses it: a pattern matches a path component (and all below it)."""
    parts = path.split("/")
    return any(fnmatch.fnmatch(part, pattern.rstrip("/")) for pattern in patterns for part in parts)


def test_funcignore_keeps_azds_environment_and_the_tooling_out_of_the_package_and_the_app_in() -> None:
    patterns = [line.strip() for line in (ROOT / ".funcignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    # azd writes the environment's values (subscription, principal ids, outputs) under .azure/<env>/.env
    for private in (".azure/argoboot-prod/.env", ".azure/config.json", "tests/e2e/test_bootstrap.py",
                    "localazure/arm_model.py", "infra/main.bicep", ".venv/bin/python", "local.settings.json"):
        assert _ignored(private, patterns), f"{private} would be published with the app"
    for needed in ("function_app.py", "host.json", "requirements.txt", "handlers/install_requests.py",
                   "shared/settings.py", "shared/pipeline/processing.py", "profiles/default.yaml"):
        assert not _ignored(needed, patterns), f"{needed} would be left out of the package"
