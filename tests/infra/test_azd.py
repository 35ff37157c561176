"""azure.yaml, the parameters file and the azd hooks agree with the Bicep they drive; .funcignore ships only the app."""
from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import yaml

from tests.infra.bicep import INFRA, MAIN, ROOT, parse, required_parameters

DEPLOYING_HOOKS = ("subscribe-cluster-events", "assign-bootstrapper-role")
HOOKS = [INFRA / "scripts" / f"{name}.{suffix}" for name in (*DEPLOYING_HOOKS, "remove-cluster-events")
         for suffix in ("sh", "ps1")]
AZD_PROVIDES = {"AZURE_ENV_NAME", "AZURE_SUBSCRIPTION_ID"}  # azd's own environment values, not main.bicep outputs
AZD_SETTINGS = {"ARGOBOOT_RETRY_SECONDS", "ARGOBOOT_RETRY_ATTEMPTS"}  # the hooks' own knobs (lib.sh)


def test_azure_yaml_deploys_this_folder_as_a_python_function_app_with_main_bicep() -> None:
    config = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert (ROOT / config["infra"]["path"] / f"{config['infra']['module']}.bicep") == MAIN
    (service,) = config["services"].values()
    assert service == {"project": ".", "language": "python", "host": "function"}
    # azd finds the app to publish to by this tag.
    assert list(config["services"]) == ["app"]
    assert "{ 'azd-service-name': 'app' }" in (INFRA / "modules" / "functionapp.bicep").read_text()


def test_parameters_file_names_only_main_bicep_parameters_and_all_required_ones() -> None:
    params = parse(MAIN)["parameters"]
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) - set(params) == set(), "parameters main.bicep does not declare"
    required = required_parameters(MAIN)
    assert required - set(given) == set(), "required parameters the file does not give"


def _deployed_parameters(text: str) -> tuple[Path, set[str]]:
    """The module a hook deploys (--template-file) and the parameter names it passes after --parameters."""
    (template,) = re.findall(r"--template-file\s+(\S+\.bicep)", text)
    block = text.split("--parameters", 1)[1].split("--output", 1)[0]
    return ROOT / template, set(re.findall(r"^\s+(\w+)=", block, re.MULTILINE))


def test_hooks_pass_their_modules_their_parameters_from_main_outputs() -> None:
    config = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert set(config["hooks"]) == {"postprovision", "postdeploy", "predown"}
    outputs = set(parse(MAIN)["outputs"])
    for event, scripts in config["hooks"].items():
        for hook in scripts.values():
            path = (ROOT / hook["run"]).resolve()
            assert path in {h.resolve() for h in HOOKS}, f"{event}: {hook['run']} is not a known hook"
    for hook in HOOKS:
        text = hook.read_text()
        if hook.stem in DEPLOYING_HOOKS:
            module, passed = _deployed_parameters(text)
            module_params = parse(module)["parameters"]
            required = required_parameters(module)
            assert passed - set(module_params) == set() and required - passed == set(), hook.name
        variable = r"\$env:([A-Z][A-Z0-9_]+)" if hook.suffix == ".ps1" else r"\$\{?([A-Z][A-Z0-9_]+)"
        used = set(re.findall(variable, text)) - AZD_PROVIDES - AZD_SETTINGS
        assert used, hook.name
        assert used - outputs == set(), f"{hook.name} reads values main.bicep does not output"
    # The sh and the pwsh twin of each hook deploy the same module with the same parameters.
    for sh in (h for h in HOOKS if h.suffix == ".sh" and h.stem in DEPLOYING_HOOKS):
        assert _deployed_parameters(sh.read_text()) == _deployed_parameters(sh.with_suffix(".ps1").read_text())


def test_main_bicep_reads_back_what_the_hooks_keep_in_the_environment() -> None:
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    read = {re.sub(r"^\$\{(\w+)(=.*)?\}$", r"\1", p["value"]) for p in given.values()}
    for hook in HOOKS:
        kept = set(re.findall(r"azd env set (\w+)", hook.read_text()))
        assert kept - read == set(), f"{hook.name} sets values main.parameters.json never passes to main.bicep"

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
