"""Issue 24, rows 1, 2, 4 and 5: what a second `azd up`, `azd down` then `azd up`, a second environment and an
onboarded subscription with its own system topic do (docs/deploy.md, "Lifecycle, step by step").

The names are rendered from the parsed Bicep for two environments (a stand-in for uniqueString, which only has to
differ when its inputs do) and compared; the hooks run against the stand-in `az` of test_hooks.py.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.infra.bicep import INFRA, MAIN, ONBOARD, ROLE_MODULE, ROOT, parse
from tests.infra.test_hooks import DEPLOYED, NO_TOPIC, SIGNED_IN, SUBSCRIBE, option, parameters, run_hook

SUBSCRIPTION = "/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"


def _render(template: str, values: dict[str, str]) -> str:
    """A Bicep interpolated string, for the few expressions main.bicep's names use."""
    def expression(match: re.Match[str]) -> str:
        text = match.group(1).strip()
        take = re.fullmatch(r"take\((\w+), (\d+)\)", text)
        if take:
            return values[take.group(1)][: int(take.group(2))]
        return values[text]
    return re.sub(r"\$\{([^}]+)\}", expression, template)


def _names(environment: str, location: str) -> dict[str, str]:
    """What main.bicep names for one environment: the deployments at subscription scope, the role definitions'
    names (the guid() seeds) and the event subscription."""
    variables = parse(MAIN)["variables"]
    token = json.dumps(variables["resourceToken"]["value"])
    assert '"extra_string_1": "environmentName", "extra_string_2": "location"' in token  # uniqueString's inputs
    values = {"environmentName": environment, "location": location,
              "resourceToken": hashlib.sha256(f"{SUBSCRIPTION}|{environment}|{location}".encode()).hexdigest()[:13]}
    values["deploymentSuffix"] = _render(variables["deploymentSuffix"]["value"], values)
    role = parse(MAIN)["modules"]["role"]["config"]
    assert role["params"]["roleKey"] == "deploymentSuffix"
    seeds = re.findall(r"name: guid\(subscription\(\).id, '([\w-]+)', roleKey\)", ROLE_MODULE.read_text())
    assert len(seeds) == 2, "both role definitions are named by roleKey"
    role_names = re.findall(r"roleName: '([^']+)'", ROLE_MODULE.read_text())
    assert len(role_names) == 2 and all("${roleKey}" in n for n in role_names)
    return {
        "role deployment": _render(role["name"], values),
        **{f"role {seed}": f"{seed}|{values['deploymentSuffix']}" for seed in seeds},
        "event subscription": _render(variables["eventSubscriptionName"]["value"], values),
        "resource group": f"rg-{environment}",
    }


def test_two_environments_get_their_own_deployments_roles_and_event_subscription() -> None:
    """Row 4: nothing at subscription scope is shared by two environments, or by one environment in two regions."""
    prod, staging = _names("argoboot-prod", "swedencentral"), _names("argoboot-staging", "swedencentral")
    prod_elsewhere = _names("argoboot-prod", "westeurope")
    for other in (staging, prod_elsewhere):
        shared = {k for k in prod if k != "resource group" and prod[k] == other[k]}
        assert shared <= ({"event subscription"} if other is prod_elsewhere else set()), shared
    assert prod["event subscription"] == "argoboot-argoboot-prod"
    for name in prod.values():
        assert len(name.split("|")[-1]) <= 64, name  # ARM's limit for deployment names
    assert _render(parse(MAIN)["variables"]["deploymentSuffix"]["value"], {
        "environmentName": "x" * 40, "resourceToken": "t" * 13}).__len__() + len("roleassign-") <= 64
    # The onboarding deployment names its modules and roles by the same suffix.
    onboard = parse(ONBOARD)["modules"]
    assert onboard["role"]["config"]["name"] == "role-${deploymentSuffix}"
    assert onboard["clusterEvents"]["config"]["config"]["name"] == "events-${deploymentSuffix}"


def test_main_bicep_never_deploys_into_a_resource_group_it_does_not_create() -> None:
    """Row 1: azd down deletes every resource group main.bicep's deployment touched: only its own, `rg`."""
    modules = parse(MAIN)["modules"]
    for name, module in modules.items():
        config = module["config"].get("config", module["config"])
        assert config.get("scope") in ("rg", None), f"module {name} deploys into {config.get('scope')}"
    assert "resourceGroup(" not in MAIN.read_text()
    assert not {"existingSystemTopicName", "existingSystemTopicResourceGroup"} & set(parse(MAIN)["parameters"])


def test_the_environment_keeps_nothing_that_makes_the_next_provision_subscribe_too_early() -> None:
    """Row 2: a predown hook on both platforms resets the flag; no reused-topic variable is read back."""
    config = yaml.safe_load((ROOT / "azure.yaml").read_text())
    predown = config["hooks"]["predown"]
    assert predown["posix"]["run"] == "./infra/scripts/remove-cluster-events.sh"
    assert predown["windows"]["run"] == "./infra/scripts/remove-cluster-events.ps1"
    given = (INFRA / "main.parameters.json").read_text()
    assert "ARGOBOOT_SYSTEM_TOPIC" not in given and "${SUBSCRIBE_CLUSTER_EVENTS=false}" in given
    for hook in sorted((INFRA / "scripts").glob("*.*")):
        code = re.sub(r"\"[^\"\n]*\"|'[^'\n]*'|#.*", "''", hook.read_text())  # not what messages tell a person
        kept = set(re.findall(r"azd env set (\w+)", code))
        assert kept <= {"SUBSCRIBE_CLUSTER_EVENTS"}, hook.name
        if hook.stem == "subscribe-cluster-events":
            assert kept == {"SUBSCRIBE_CLUSTER_EVENTS"}, hook.name
    for hook in ("remove-cluster-events.sh", "remove-cluster-events.ps1"):
        assert "azd env set SUBSCRIBE_CLUSTER_EVENTS false" in (INFRA / "scripts" / hook).read_text()


def test_a_second_azd_up_deploys_the_same_names_again(tmp_path: Path) -> None:
    """The postdeploy hook's deployment on the service's own topic is main.bicep's module: one deployment, updated."""
    main_module = parse(MAIN)["modules"]["clusterEvents"]["config"]["config"]
    runs = [run_hook(tmp_path / str(i), SUBSCRIBE, [SIGNED_IN, NO_TOPIC, DEPLOYED]) for i in (1, 2)]
    calls = [run.az("deployment", "group", "create")[0] for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert {option(c, "--name") for c in calls} == {main_module["name"]}
    assert runs[0].deployed(calls[0]) == runs[1].deployed(calls[1])
    assert main_module["params"]["eventSubscriptionName"] == "eventSubscriptionName"
    assert parameters(calls[0])["eventSubscriptionName"] == _names("argoboot-test", "x")["event subscription"]


def _module_scope_text(path: Path, module: str) -> str:
    text = path.read_text()
    block = text.split(f"module {module} ", 1)[1].split("\n}\n", 1)[0]
    found = re.search(r"^\s*scope: (.*)$", block, re.MULTILINE)
    assert found, f"{module} has no scope"
    return found.group(1)


def test_onboarding_reuses_a_subscriptions_existing_system_topic() -> None:
    """Row 5: with existingSystemTopicName, only the event subscription (and its alerts) goes on that topic, in its
    group; the service's own group and topic are not created."""
    tree: dict[str, Any] = parse(ONBOARD)
    assert {"existingSystemTopicName", "existingSystemTopicResourceGroup"} <= set(tree["parameters"])
    events = tree["modules"]["clusterEvents"]["config"]["config"]["params"]
    assert events["reuseExistingTopic"] == "reuseTopic"
    assert "existingSystemTopicResourceGroup" in _module_scope_text(ONBOARD, "clusterEvents")
    assert "existingSystemTopicName" in json.dumps(events["systemTopicName"])
    assert tree["resources"]["rg"]["config"]["condition"] == "ownTopic"
    assert "var reuseTopic = !empty(existingSystemTopicName)" in ONBOARD.read_text()
    assert "var ownTopic = subscribeClusterEvents && !reuseTopic" in ONBOARD.read_text()
    # And the guide shows it, pointing at the onboarding template, not main.bicep.
    guide = (ROOT / "docs" / "deploy.md").read_text()
    onboarding = guide.split("## Onboarding another subscription", 1)[1].split("\n## ", 1)[0]
    assert "existingSystemTopicName=<topic>" in onboarding and "-f infra/onboard-subscription.bicep" in onboarding
