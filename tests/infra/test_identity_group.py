"""Issue 24, row 6 by default: the identity rights only on a dedicated identity resource group, which `azd down` keeps.

main.bicep's app setting IDENTITY_RESOURCE_GROUP names `rg-<environment>-argocd-identities` unless the operator names
another group or opts out explicitly (`identitiesInClusterGroups`); the postprovision hook (sh and pwsh) creates that
group in each subscription if it is missing, outside azd's deployment, then assigns the identity role there only. The
Bicep expressions are evaluated from the parsed templates; the hooks run against the stand-in `az` of test_hooks.py.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.bootstrap.cluster_ids import parse_resource_id
from shared.bootstrap.identity_placement import IdentityPlacement
from tests.infra.bicep import INFRA, MAIN, ROLE_ASSIGNMENT, ROOT, bicep_files, module_paths, parse
from tests.infra.test_hooks import ASSIGN, ENV, REMOVE, SIGNED_IN, SUB, Run, option, parameters, run_hook
from tests.infra.test_lifecycle import _render

OTHER = "11111111-2222-3333-4444-555555555555"
CENTRAL = "99999999-0000-4000-8000-000000000000"
LIB_SH = INFRA / "scripts" / "lib.sh"
LIB_PS1 = INFRA / "scripts" / "lib.ps1"


def evaluate(node: Any, values: dict[str, Any]) -> Any:
    """The few Bicep expressions these templates use, as pycep parses them: a bare name is a parameter."""
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return values[node] if node in values else _render(node, values)
    if "operator" in node:
        kind, ops = node["operator"]["type"], node["operator"]["operands"]
        if kind == "conditional":
            chosen = "true_value" if evaluate(ops["condition"], values) else "false_value"
            return evaluate(ops[chosen], values)
        if kind == "and":
            return bool(evaluate(ops["operand_1"], values)) and bool(evaluate(ops["operand_2"], values))
        if kind == "not":
            return not evaluate(ops["bool_value"], values)
    function = node["function"]
    if function["type"] == "empty":
        return not evaluate(function["parameters"]["item_to_test"], values)
    if function["type"] == "trim":
        return str(evaluate(function["parameters"]["string_to_trim"], values)).strip()
    raise AssertionError(f"no evaluator for {json.dumps(node)[:200]}")


def identity_setting(environment: str, group: str = "", opt_out: bool = False) -> str:
    """IDENTITY_RESOURCE_GROUP as main.bicep sets it (app setting and output) from what azd passes it: an unset
    ARGOBOOT_IDENTITY_RESOURCE_GROUP arrives empty (main.parameters.json)."""
    tree = parse(MAIN)
    assert tree["modules"]["app"]["config"]["params"]["identityResourceGroup"] == "identityGroup"
    assert tree["outputs"]["IDENTITY_RESOURCE_GROUP"]["value"] == "identityGroup"
    value = evaluate(tree["variables"]["identityGroup"]["value"], {
        "environmentName": environment, "identityResourceGroup": group, "identitiesInClusterGroups": opt_out})
    assert isinstance(value, str)
    return value


def assigned_at(run: Run) -> dict[str, bool]:
    """Which identity-role assignments bootstrapper-role-assignment.bicep makes with the hook's parameters."""
    [call] = run.az("deployment", "sub", "create")
    values: dict[str, Any] = dict(parameters(call))
    values["assignIdentityRole"] = values["assignIdentityRole"] == "true"
    tree = parse(ROLE_ASSIGNMENT)
    return {"subscription": evaluate(tree["resources"]["identityRoleAtSubscription"]["config"]["condition"], values),
            "group": evaluate(tree["modules"]["identityRole"]["config"]["condition"], values)}


def _run(tmp_path: Path, exists: str = "false", **env: str) -> Run:
    return run_hook(tmp_path, ASSIGN, [SIGNED_IN, {"match": ["group exists"], "answers": [{"stdout": f"{exists}\n"}]},
                                       {"match": ["deployment sub create"], "answers": [{"stdout": ""}]}], env)


def _cluster(subscription: str) -> Any:
    return parse_resource_id(f"/subscriptions/{subscription}/resourceGroups/rg-apps/providers/"
                             "Microsoft.ContainerService/managedClusters/aks-1")


def test_by_default_each_environment_names_an_identity_group_of_its_own() -> None:
    assert identity_setting("argoboot-prod") == "rg-argoboot-prod-argocd-identities"
    assert identity_setting("argoboot-staging") == "rg-argoboot-staging-argocd-identities"
    assert identity_setting("argoboot-prod", " rg-platform-ids ") == "rg-platform-ids"  # the operator's own
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert given["identityResourceGroup"]["value"] == "${ARGOBOOT_IDENTITY_RESOURCE_GROUP=}"
    assert given["identitiesInClusterGroups"]["value"] == "${ARGOBOOT_IDENTITIES_IN_CLUSTER_GROUPS=false}"
    # The service reads a plain name as that group in each cluster's own subscription: the group the hook creates
    # in this subscription and in every onboarded one.
    placement = IdentityPlacement.parse(identity_setting("argoboot-prod"))
    for subscription in (SUB, OTHER):
        home = placement.home(_cluster(subscription))
        assert (home.subscription, home.resource_group, home.configured) == (
            subscription, "rg-argoboot-prod-argocd-identities", True)


def test_the_identity_group_is_never_a_resource_of_the_azd_deployment() -> None:
    """azd down deletes every group main.bicep's deployment touched: the identity group is not one of them."""
    groups = [r for r in parse(MAIN)["resources"].values() if r["type"] == "Microsoft.Resources/resourceGroups"]
    assert [json.dumps(g["config"]["name"]) for g in groups] == [json.dumps(parse(MAIN)["resources"]["rg"]["config"][
        "name"])]
    assert "identity" not in json.dumps(groups).lower()
    assert ROLE_ASSIGNMENT.resolve() not in module_paths(MAIN)  # the hook's own deployment, not azd's
    mentions = [p.relative_to(ROOT) for p in bicep_files() if "argocd-identities" in p.read_text()]
    assert mentions == [MAIN.relative_to(ROOT)]
    assert "var identityGroup = " in MAIN.read_text()


def test_by_default_the_hook_creates_the_group_then_assigns_the_identity_role_there_only(tmp_path: Path) -> None:
    group = identity_setting(ENV["AZURE_ENV_NAME"])
    run = _run(tmp_path, IDENTITY_RESOURCE_GROUP=group)
    assert run.returncode == 0, run.stderr
    [exists] = run.az("group", "exists")
    assert (option(exists, "--subscription"), option(exists, "--name")) == (SUB, group)
    [create] = run.az("group", "create")
    assert (option(create, "--subscription"), option(create, "--name"), option(create, "--location")) == (
        SUB, group, "swedencentral")
    tags = create[create.index("--tags") + 1: create.index("--output")]
    # Never azd-env-name: azd finds resource groups to delete by that tag as well (Azure/azure-dev#6324).
    assert tags == ["application=argoboot", f"argoboot-identity-group={ENV['AZURE_ENV_NAME']}"]
    order = [c[1:3] for c in run.calls if c[0] == "az" and c[1] in ("group", "deployment")]
    assert order == [["group", "exists"], ["group", "create"], ["deployment", "sub"]]
    [call] = run.az("deployment", "sub", "create")
    params = parameters(call)
    assert (params["identitySubscriptionId"], params["identityResourceGroup"], params["assignIdentityRole"]) == (
        SUB, group, "true")
    assert assigned_at(run) == {"subscription": False, "group": True}
    assert "whole subscription" not in run.stderr


def test_an_identity_group_that_exists_is_left_as_it_is(tmp_path: Path) -> None:
    run = _run(tmp_path, exists="true", IDENTITY_RESOURCE_GROUP="rg-platform-ids")
    assert run.returncode == 0, run.stderr
    assert len(run.az("group", "exists")) == 1 and run.az("group", "create") == []
    assert assigned_at(run) == {"subscription": False, "group": True}


def test_a_second_environment_gets_an_identity_group_of_its_own(tmp_path: Path) -> None:
    created = []
    for environment in ("argoboot-prod", "argoboot-staging"):
        run = _run(tmp_path / environment, AZURE_ENV_NAME=environment,
                   IDENTITY_RESOURCE_GROUP=identity_setting(environment))
        assert run.returncode == 0, run.stderr
        [create] = run.az("group", "create")
        created.append((option(create, "--name"), create[create.index("--tags") + 2]))
        assert parameters(run.az("deployment", "sub", "create")[0])["identityResourceGroup"] == created[-1][0]
    assert created == [("rg-argoboot-prod-argocd-identities", "argoboot-identity-group=argoboot-prod"),
                       ("rg-argoboot-staging-argocd-identities", "argoboot-identity-group=argoboot-staging")]


def test_an_onboarded_subscription_gets_its_own_identity_group_the_same_way(tmp_path: Path) -> None:
    group = identity_setting(ENV["AZURE_ENV_NAME"])
    run = _run(tmp_path / "other", AZURE_SUBSCRIPTION_ID=OTHER, IDENTITY_RESOURCE_GROUP=group)
    assert run.returncode == 0, run.stderr
    [create] = run.az("group", "create")
    assert (option(create, "--subscription"), option(create, "--name")) == (OTHER, group)
    assert parameters(run.az("deployment", "sub", "create")[0])["identitySubscriptionId"] == OTHER
    # A group in another subscription (a full id) is created and assigned by that subscription's run, not this one.
    central = f"/subscriptions/{CENTRAL}/resourceGroups/rg-central-ids"
    run = _run(tmp_path / "central", IDENTITY_RESOURCE_GROUP=central)
    assert run.returncode == 0 and run.az("group") == []
    run = _run(tmp_path / "central-run", AZURE_SUBSCRIPTION_ID=CENTRAL, IDENTITY_RESOURCE_GROUP=central)
    [create] = run.az("group", "create")
    assert (option(create, "--subscription"), option(create, "--name")) == (CENTRAL, "rg-central-ids")


def test_the_explicit_opt_out_keeps_identities_in_cluster_groups_with_the_warning(tmp_path: Path) -> None:
    assert identity_setting("argoboot-prod", "rg-ignored", opt_out=True) == ""
    placement = IdentityPlacement.parse(identity_setting("argoboot-prod", opt_out=True))
    assert placement.home(_cluster(SUB)).configured is False  # the cluster's own group
    run = _run(tmp_path, IDENTITY_RESOURCE_GROUP="")
    assert run.returncode == 0, run.stderr
    assert run.az("group") == []
    assert assigned_at(run) == {"subscription": True, "group": False}
    assert "assigned on the whole subscription" in run.stderr
    assert "ARGOBOOT_IDENTITIES_IN_CLUSTER_GROUPS false" in run.stderr


def test_a_group_that_cannot_be_created_stops_the_hook_before_any_assignment(tmp_path: Path) -> None:
    run = run_hook(tmp_path, ASSIGN, [SIGNED_IN, {"match": ["group exists"], "answers": [{"stdout": "false\n"}]},
                                      {"match": ["group create"], "answers": [
                                          {"stderr": "ERROR: (AuthorizationFailed) no groups/write\n", "exit": 1}]}],
                   {"IDENTITY_RESOURCE_GROUP": "rg-argoboot-test-argocd-identities"})
    assert run.returncode != 0 and "AuthorizationFailed" in run.stderr
    assert run.az("deployment") == []



@pytest.mark.parametrize("group", ["rg-argoboot", "RG-ARGOBOOT"])
def test_the_environments_own_group_is_refused_as_the_identity_group(tmp_path: Path, group: str) -> None:
    """azd down deletes rg-<environment>, and with it every identity in it: the hook says so and grants nothing."""
    run = _run(tmp_path, IDENTITY_RESOURCE_GROUP=group)
    assert run.returncode == 1
    assert "this environment's own resource group, which 'azd down' deletes" in run.stderr
    assert "rg-argoboot-test-argocd-identities" in run.stderr
    assert run.az("group") == [] and run.az("deployment") == []


@pytest.mark.parametrize("topic_group", ["rg-argoboot", "rg-platform"], ids=["own-topic", "their-topic"])
def test_azd_down_leaves_the_identity_group(tmp_path: Path, topic_group: str) -> None:
    topic = f"/subscriptions/{SUB}/resourceGroups/{topic_group}/providers/Microsoft.EventGrid/systemTopics/t"
    run = run_hook(tmp_path, REMOVE, [SIGNED_IN, {"match": ["eventgrid system-topic list"], "answers": [
        {"stdout": f"{topic}\tt\t{topic_group}\t/subscriptions/{SUB}\n"}]}],
        {"IDENTITY_RESOURCE_GROUP": "rg-argoboot-test-argocd-identities"})
    assert run.returncode == 0, run.stderr
    assert run.az("group") == [] and not [c for c in run.calls if "delete" in c and "identit" in " ".join(c)]
    for hook in (INFRA / "scripts").glob("*.*"):
        assert not re.search(r"\bgroup\s+delete\b", hook.read_text()), hook.name
    guide = (ROOT / "docs" / "deploy.md").read_text()
    removing = guide.split("## Removing", 1)[1].split("\n## ", 1)[0]
    assert "**The identity resource group `rg-<environment>-argocd-identities` stays**" in removing
    assert "az group delete -n rg-<environment>-argocd-identities --subscription" in removing


def test_the_windows_hook_creates_the_group_as_the_sh_hook_does() -> None:
    sh, ps1 = LIB_SH.read_text(), LIB_PS1.read_text()
    tags_sh = re.search(r"--tags (.*?) --output", sh.replace("\\\n", " "))
    tags_ps1 = re.search(r"--tags (.*?) --output", re.sub(r"`\r?\n\s*", " ", ps1))
    assert tags_sh and tags_ps1
    wanted = 'application=argoboot "argoboot-identity-group=<env>"'
    assert tags_sh.group(1).replace("$AZURE_ENV_NAME", "<env>") == wanted
    assert tags_ps1.group(1).replace("$env:AZURE_ENV_NAME", "<env>") == wanted
    assert "az group exists --subscription $Subscription --name $Group" in ps1
    assigning = (INFRA / "scripts" / "assign-bootstrapper-role.ps1").read_text()
    assert "    Ensure-IdentityGroup $env:AZURE_SUBSCRIPTION_ID $identityGroup\n}" in assigning
    assert "$identityGroup -ieq $env:AZURE_RESOURCE_GROUP" in assigning
    assert assigning.index("Ensure-IdentityGroup") < assigning.index("az deployment sub create")
