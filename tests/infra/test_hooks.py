"""The azd hooks, run for real (the shell scripts in infra/scripts) against a stubbed `az` and `azd`.

The stubs are small programs first on PATH: they record their arguments and answer as the Azure CLI would, from
a script of answers per test (matched by substrings of the command line, used in order, the last one repeated).
The assertions read what the hooks asked Azure to do.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep import INFRA, ROOT

SUBSCRIBE = INFRA / "scripts" / "subscribe-cluster-events.sh"
ASSIGN = INFRA / "scripts" / "assign-bootstrapper-role.sh"
REMOVE = INFRA / "scripts" / "remove-cluster-events.sh"
SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
EVENTS_ID = f"/subscriptions/{SUB}/resourceGroups/rg-argoboot/providers/Microsoft.ManagedIdentity/" \
            "userAssignedIdentities/id-argoboot-events-abc"
# What azd hands the hooks: main.bicep's outputs and its own values.
ENV = {
    "AZURE_SUBSCRIPTION_ID": SUB, "AZURE_ENV_NAME": "argoboot-test", "AZURE_LOCATION": "swedencentral",
    "AZURE_RESOURCE_GROUP": "rg-argoboot", "SYSTEM_TOPIC_NAME": "evgt-argoboot-abc",
    "AZURE_FUNCTION_APP_NAME": "func-argoboot-abc",
    "AZURE_FUNCTION_APP_ID": f"/subscriptions/{SUB}/resourceGroups/rg-argoboot/providers/Microsoft.Web/sites/"
                             "func-argoboot-abc",
    "EVENTS_IDENTITY_ID": EVENTS_ID, "APP_PRINCIPAL_ID": "0b1e2c3d-0000-4000-8000-00000000a11c",
    "STORAGE_ACCOUNT_ID": f"/subscriptions/{SUB}/resourceGroups/rg-argoboot/providers/Microsoft.Storage/"
                          "storageAccounts/stabc",
    "DEAD_LETTER_CONTAINER": "cluster-events-deadletter",
    "DEPLOYMENT_SUFFIX": "argoboot-test-abc", "EVENT_SUBSCRIPTION_NAME": "argoboot-argoboot-test",
    "ROLE_DEFINITION_ID": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/1111",
    "IDENTITY_ROLE_DEFINITION_ID": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/2222",
    "ARGOBOOT_RETRY_SECONDS": "0", "ARGOBOOT_RETRY_ATTEMPTS": "3",
}

_STUB = '''#!{python}
"""A stand-in for `{name}`: records argv, answers from the test's script."""
import json, sys
from pathlib import Path
here = Path(__file__).resolve().parent
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps(["{name}", *sys.argv[1:]]) + "\\n")
    for arg in sys.argv[1:]:  # files passed as @path (JSON bodies, parameter files): their content, before it is gone
        if arg.startswith("@") and Path(arg[1:]).is_file():
            log.write(json.dumps(["@file", arg[1:], Path(arg[1:]).read_text()]) + "\\n")
state = here / "{name}-answers.json"
rules = json.loads(state.read_text()) if state.exists() else []
line = " ".join(sys.argv[1:])
for rule in rules:
    if all(part in line for part in rule["match"]):
        answer = rule["answers"][0] if len(rule["answers"]) == 1 else rule["answers"].pop(0)
        state.write_text(json.dumps(rules))
        sys.stdout.write(answer.get("stdout", ""))
        sys.stderr.write(answer.get("stderr", ""))
        sys.exit(answer.get("exit", 0))
sys.exit(0)
'''


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[list[str]]

    def az(self, *words: str) -> list[list[str]]:
        """The az calls whose arguments start with these words."""
        return [c[1:] for c in self.calls if c[0] == "az" and c[1:1 + len(words)] == list(words)]

    def azd(self) -> list[list[str]]:
        return [c[1:] for c in self.calls if c[0] == "azd"]

    def file(self, argument: str) -> Any:
        """The JSON a file argument (@path) held when az read it."""
        assert argument.startswith("@"), f"{argument!r} is not a file argument"
        contents = [c[2] for c in self.calls if c[0] == "@file" and c[1] == argument[1:]]
        assert contents, f"az never read {argument}"
        return json.loads(contents[-1])

    def deployed(self, call: Sequence[str]) -> dict[str, Any]:
        """A deployment's parameters: name=value pairs and those of its parameter files (their values)."""
        found: dict[str, Any] = dict(parameters(call))
        for name in [n for n in found if n.startswith("@")]:
            del found[name]
            found.update({k: v["value"] for k, v in self.file(name)["parameters"].items()})
        return found


def parameters(call: Sequence[str]) -> dict[str, str]:
    """name=value pairs after --parameters."""
    start = list(call).index("--parameters") + 1
    found = {}
    for arg in call[start:]:
        if arg.startswith("--"):
            break
        name, _, value = arg.partition("=")
        found[name] = value
    return found


def option(call: Sequence[str], name: str) -> str:
    return call[list(call).index(name) + 1]


def run_hook(tmp_path: Path, script: Path, az: list[dict[str, Any]], env: dict[str, str] | None = None,
             shell: str = "sh") -> Run:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("az", "azd"):
        stub = bin_dir / name
        stub.write_text(_STUB.format(python=sys.executable, name=name))
        stub.chmod(0o755)
    (bin_dir / "az-answers.json").write_text(json.dumps(az))
    result = subprocess.run([shell, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), **ENV, **(env or {})})
    log = bin_dir / "calls.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return Run(result.returncode, result.stdout, result.stderr, calls)


SIGNED_IN = {"match": ["account show"], "answers": [{"stdout": f"{SUB}\n"}]}
NO_TOPIC = {"match": ["eventgrid system-topic list"], "answers": [{"stdout": ""}]}
DEPLOYED = {"match": ["deployment group create"], "answers": [{"stdout": ""}]}


def _topic(name: str, group: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.EventGrid/systemTopics/{name}"


def test_without_a_signed_in_az_the_hook_says_so_and_touches_nothing(tmp_path: Path) -> None:
    run = run_hook(tmp_path, SUBSCRIBE, [{"match": ["account show"], "answers": [
        {"stderr": "ERROR: Please run 'az login' to setup account.\n", "exit": 1}]}])
    assert run.returncode == 1
    assert "the Azure CLI is not signed in; run 'az login'" in run.stderr and "azd hooks run postdeploy" in run.stderr
    assert run.az("deployment") == [] and run.az("eventgrid") == [] and run.azd() == []


def test_a_new_subscription_gets_the_services_own_topic(tmp_path: Path) -> None:
    run = run_hook(tmp_path, SUBSCRIBE, [SIGNED_IN, NO_TOPIC, DEPLOYED])
    assert run.returncode == 0, run.stderr
    [deployment] = run.az("deployment", "group", "create")
    assert option(deployment, "--resource-group") == "rg-argoboot"
    assert option(deployment, "--template-file") == "infra/modules/cluster-events.bicep"
    params = parameters(deployment)
    assert params["systemTopicName"] == "evgt-argoboot-abc" and params["reuseExistingTopic"] == "false"
    assert params["eventsIdentityId"] == EVENTS_ID
    assert params["eventSubscriptionName"] == "argoboot-argoboot-test"
    assert option(deployment, "--name") == "cluster-events"  # main.bicep's module: later provisions keep it
    assert run.deployed(deployment)["tags"] == {"azd-env-name": "argoboot-test", "application": "argoboot"}
    assert run.az("rest") == []
    assert run.azd() == [["env", "set", "SUBSCRIBE_CLUSTER_EVENTS", "true"]]


def test_the_services_own_topic_from_an_earlier_run_is_not_reused_as_someone_elses(tmp_path: Path) -> None:
    own = _topic("evgt-argoboot-abc", "rg-argoboot")
    run = run_hook(tmp_path, SUBSCRIBE, [SIGNED_IN, DEPLOYED, {"match": ["eventgrid system-topic list"], "answers": [
        {"stdout": f"{own}\tEVGT-ARGOBOOT-ABC\tRG-ARGOBOOT\t/subscriptions/{SUB.upper()}\n"}]}])
    assert run.returncode == 0, run.stderr
    [deployment] = run.az("deployment", "group", "create")
    assert parameters(deployment)["reuseExistingTopic"] == "false"
    assert run.az("eventgrid", "system-topic", "show") == []


def test_an_existing_system_topic_is_reused_with_the_events_identity_added(tmp_path: Path) -> None:
    theirs = _topic("platform-events", "rg-platform")
    other_identity = f"/subscriptions/{SUB}/resourceGroups/rg-platform/providers/Microsoft.ManagedIdentity/" \
                     "userAssignedIdentities/id-platform"
    other_subscription = "11111111-2222-3333-4444-555555555555"
    run = run_hook(tmp_path, SUBSCRIBE, [
        SIGNED_IN, DEPLOYED,
        {"match": ["eventgrid system-topic list"], "answers": [{"stdout": (
            f"/subscriptions/{SUB}/resourceGroups/rg-x/providers/Microsoft.EventGrid/systemTopics/storage-events\t"
            f"storage-events\trg-x\t/subscriptions/{SUB}/resourceGroups/rg-x/providers/Microsoft.Storage/"
            "storageAccounts/st1\n"
            f"{theirs}\tplatform-events\trg-platform\t/subscriptions/{SUB}\n"
            f"/x\tnot-this-one\trg-y\t/subscriptions/{other_subscription}\n")}]},
        {"match": ["system-topic show", "identity.type"], "answers": [{"stdout": "UserAssigned\n"}]},
        {"match": ["system-topic show", "keys("], "answers": [{"stdout": f"{other_identity}\n"}]},
        {"match": ["rest --method patch"], "answers": [{"stdout": ""}]},
    ])
    assert run.returncode == 0, run.stderr
    [patch] = run.az("rest")
    assert option(patch, "--url") == f"{theirs}?api-version=2022-06-15"
    identity = run.file(option(patch, "--body"))["identity"]
    assert identity == {"type": "UserAssigned", "userAssignedIdentities": {other_identity: {}, EVENTS_ID: {}}}
    [deployment] = run.az("deployment", "group", "create")
    assert option(deployment, "--resource-group") == "rg-platform"
    params = parameters(deployment)
    assert params["systemTopicName"] == "platform-events" and params["reuseExistingTopic"] == "true"
    # Row 1: a deployment of the hook's own, named for the environment, never main.bicep's (whose resource groups
    # `azd down` deletes); row 2: nothing kept in the environment that would make the next provision deploy it.
    assert option(deployment, "--name") == "events-argoboot-test-abc"
    assert params["eventSubscriptionName"] == "argoboot-argoboot-test"
    assert run.azd() == []
    assert f"already has the system topic {theirs}" in run.stdout


def _with_their_topic(tmp_path: Path, kind: str, assigned: str) -> tuple[str, Run]:
    """The hook in a subscription whose system topic `platform-events` has identities of this kind and these ids."""
    theirs = _topic("platform-events", "rg-platform")
    return theirs, run_hook(tmp_path, SUBSCRIBE, [
        SIGNED_IN, DEPLOYED,
        {"match": ["eventgrid system-topic list"], "answers": [
            {"stdout": f"{theirs}\tplatform-events\trg-platform\t/subscriptions/{SUB}\n"}]},
        {"match": ["system-topic show", "identity.type"], "answers": [{"stdout": f"{kind}\n"}]},
        {"match": ["system-topic show", "keys("], "answers": [{"stdout": f"{assigned}\n"}]},
    ])


def test_a_reused_topic_that_already_carries_the_events_identity_is_left_as_it_is(tmp_path: Path) -> None:
    _, run = _with_their_topic(tmp_path, "UserAssigned", EVENTS_ID.lower())
    assert run.returncode == 0, run.stderr
    assert run.az("rest") == [] and len(run.az("deployment", "group", "create")) == 1


def test_a_topic_with_a_system_assigned_identity_is_refused_with_what_to_do(tmp_path: Path) -> None:
    theirs, run = _with_their_topic(tmp_path, "SystemAssigned", "")
    assert run.returncode == 1
    assert f"the system topic {theirs} has a system-assigned identity" in run.stderr
    assert "azd hooks run postdeploy" in run.stderr
    assert run.az("rest") == [] and run.az("deployment") == [] and run.azd() == []


def test_a_topic_with_two_user_assigned_identities_already_is_refused(tmp_path: Path) -> None:
    theirs, run = _with_their_topic(tmp_path, "UserAssigned", "/x/id-one /x/id-two")
    assert run.returncode == 1
    assert f"{theirs} already has two user-assigned identities, the most Event Grid allows" in run.stderr
    assert run.az("rest") == [] and run.az("deployment") == []


def test_destination_not_found_is_retried_until_event_grid_sees_the_function(tmp_path: Path) -> None:
    not_yet = {"stderr": "ERROR: (BadRequest) Destination endpoint not found. Resource details: resourceId: "
                         f"{ENV['AZURE_FUNCTION_APP_ID']}/functions/cluster_events.\n", "exit": 1}
    run = run_hook(tmp_path, SUBSCRIBE, [SIGNED_IN, NO_TOPIC, {"match": ["deployment group create"], "answers": [
        not_yet, not_yet, {"stdout": ""}]}])
    assert run.returncode == 0, run.stderr
    assert len(run.az("deployment", "group", "create")) == 3
    assert run.stderr.count("Azure is not ready yet (Destination endpoint not found)") == 2
    assert run.azd() == [["env", "set", "SUBSCRIBE_CLUSTER_EVENTS", "true"]]


def test_retries_are_bounded_and_end_with_what_to_check(tmp_path: Path) -> None:
    run = run_hook(tmp_path, SUBSCRIBE, [SIGNED_IN, NO_TOPIC, {"match": ["deployment group create"], "answers": [
        {"stderr": "ERROR: Destination endpoint not found.\n", "exit": 1}]}])
    assert run.returncode == 1
    assert len(run.az("deployment", "group", "create")) == int(ENV["ARGOBOOT_RETRY_ATTEMPTS"])
    assert "still failed after 3 attempts" in run.stderr
    assert "az functionapp function list -g rg-argoboot -n func-argoboot-abc" in run.stderr
    assert run.azd() == []


def test_any_other_error_ends_the_hook_at_once_with_azures_message(tmp_path: Path) -> None:
    run = run_hook(tmp_path, SUBSCRIBE, [SIGNED_IN, NO_TOPIC, {"match": ["deployment group create"], "answers": [
        {"stderr": "ERROR: (AuthorizationFailed) The client does not have authorization.\n", "exit": 1}]}])
    assert run.returncode == 1 and len(run.az("deployment", "group", "create")) == 1
    assert "AuthorizationFailed" in run.stderr and "failed (see the error above)" in run.stderr


def test_the_role_assignment_waits_for_the_new_definition_to_replicate(tmp_path: Path) -> None:
    run = run_hook(tmp_path, ASSIGN, [SIGNED_IN, {"match": ["deployment sub create"], "answers": [
        {"stderr": "ERROR: (RoleDefinitionDoesNotExist) The specified role definition with ID 'x' does not exist.\n",
         "exit": 1},
        {"stderr": "ERROR: (PrincipalNotFound) Principal 0b1e2c3d does not exist in the directory.\n", "exit": 1},
        {"stdout": ""}]}])
    assert run.returncode == 0, run.stderr
    calls = run.az("deployment", "sub", "create")
    assert len(calls) == 3
    assert option(calls[-1], "--template-file") == "infra/modules/bootstrapper-role-assignment.bicep"
    assert option(calls[-1], "--location") == "swedencentral"
    assert parameters(calls[-1]) == {
        "principalId": ENV["APP_PRINCIPAL_ID"], "assignIdentityRole": "true",
        "roleDefinitionId": ENV["ROLE_DEFINITION_ID"],
        "identityRoleDefinitionId": ENV["IDENTITY_ROLE_DEFINITION_ID"], "identitySubscriptionId": "",
        "identityResourceGroup": ""}
    assert "RoleDefinitionDoesNotExist" in run.stderr and "holds its roles" in run.stdout
    # Without an identity group the identity role goes on the subscription: the hook says so, and how to narrow it.
    assert "ARGOBOOT_IDENTITY_RESOURCE_GROUP" in run.stderr


_ASSIGNED = [SIGNED_IN, {"match": ["deployment sub create"], "answers": [{"stdout": ""}]}]


def test_two_environments_in_one_subscription_deploy_under_names_of_their_own(tmp_path: Path) -> None:
    """Row 4: the subscription-scope deployment carries the environment (and region) main.bicep names it for."""
    names = []
    for env_name, suffix in (("prod", "prod-aaa"), ("staging", "staging-bbb")):
        run = run_hook(tmp_path / env_name, ASSIGN, _ASSIGNED,
                       {"AZURE_ENV_NAME": env_name, "DEPLOYMENT_SUFFIX": suffix,
                        "ROLE_DEFINITION_ID": f"/r/{env_name}", "IDENTITY_ROLE_DEFINITION_ID": f"/i/{env_name}"})
        assert run.returncode == 0, run.stderr
        [call] = run.az("deployment", "sub", "create")
        names.append(option(call, "--name"))
        assert parameters(call)["roleDefinitionId"] == f"/r/{env_name}"
    assert names == ["roleassign-prod-aaa", "roleassign-staging-bbb"]


CENTRAL = "99999999-0000-4000-8000-000000000000"


@pytest.mark.parametrize(("setting", "home"), [
    ("rg-identities", (SUB, "rg-identities")),
    (f"/subscriptions/{SUB}/resourceGroups/rg-central", (SUB, "rg-central")),
    (f"/subscriptions/{CENTRAL}/resourceGroups/rg-central", (CENTRAL, "rg-central")),
    (f"11111111-2222-3333-4444-555555555555=rg-other, {SUB.upper()}=rg-mine", (SUB, "rg-mine")),
    ("11111111-2222-3333-4444-555555555555=rg-other", ("", "")),
], ids=["name", "group-id", "group-in-another-subscription", "per-subscription", "other-subscription-only"])
def test_the_identity_role_goes_to_the_identity_group_identity_resource_group_names(
        tmp_path: Path, setting: str, home: tuple[str, str]) -> None:
    """Row 6: the identity rights at the group IDENTITY_RESOURCE_GROUP gives this subscription, read as the app does."""
    run = run_hook(tmp_path, ASSIGN, _ASSIGNED, {"IDENTITY_RESOURCE_GROUP": setting})
    assert run.returncode == 0, run.stderr
    [call] = run.az("deployment", "sub", "create")
    params = parameters(call)
    assert (params["identitySubscriptionId"], params["identityResourceGroup"]) == home
    assert ("ARGOBOOT_IDENTITY_RESOURCE_GROUP" in run.stderr) == (home == ("", ""))
    # A role is assignable only where it is defined: a group in another subscription gets that one's identity role.
    assert params["assignIdentityRole"] == ("false" if home[0] == CENTRAL else "true")
    assert (f"live in subscription {CENTRAL}" in run.stderr) == (home[0] == CENTRAL)


def _their_topic_listed(identities: str) -> list[dict[str, Any]]:
    theirs = _topic("platform-events", "rg-platform")
    return [SIGNED_IN,
            {"match": ["eventgrid system-topic list"], "answers": [
                {"stdout": f"{theirs}\tplatform-events\trg-platform\t/subscriptions/{SUB}\n"}]},
            {"match": ["system-topic show", "keys("], "answers": [{"stdout": f"{identities}\n"}]}]


def test_azd_down_on_the_services_own_topic_only_resets_the_flag(tmp_path: Path) -> None:
    """Rows 1 and 2: the own topic goes with the environment's group; the next `azd up` starts as the first did."""
    own = _topic("evgt-argoboot-abc", "rg-argoboot")
    run = run_hook(tmp_path, REMOVE, [SIGNED_IN, {"match": ["eventgrid system-topic list"], "answers": [
        {"stdout": f"{own}\tevgt-argoboot-abc\tRG-ARGOBOOT\t/subscriptions/{SUB}\n"}]}])
    assert run.returncode == 0, run.stderr
    assert [c for c in run.calls if c[0] == "az" and c[1:3] != ["account", "show"]] == [
        ["az", "eventgrid", "system-topic", "list", "--subscription", SUB, "--query",
         "[].[id, name, resourceGroup, source]", "-o", "tsv"]]
    assert run.azd() == [["env", "set", "SUBSCRIBE_CLUSTER_EVENTS", "false"]]


def test_azd_down_takes_the_event_subscription_off_another_teams_topic_and_leaves_their_group(tmp_path: Path) -> None:
    """Row 1: only what this environment added to their topic is removed: never their group or their topic."""
    other = "/x/id-platform"
    run = run_hook(tmp_path, REMOVE, _their_topic_listed(f"{other} {EVENTS_ID}"))
    assert run.returncode == 0, run.stderr
    [delete] = run.az("eventgrid", "system-topic", "event-subscription", "delete")
    assert (option(delete, "--resource-group"), option(delete, "--system-topic-name"), option(delete, "--name")) == \
        ("rg-platform", "platform-events", "argoboot-argoboot-test")
    alerts = [option(c, "--name") for c in run.az("monitor", "metrics", "alert", "delete")]
    assert alerts == [f"platform-events-argoboot-argoboot-test-{a}"
                      for a in ("dead-letters", "delivery-failures", "dropped-events")]
    [patch] = run.az("rest")
    assert run.file(option(patch, "--body")) == {
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {EVENTS_ID: None}}}
    assert run.az("group") == [] and run.az("eventgrid", "system-topic", "delete") == []
    assert run.azd() == [["env", "set", "SUBSCRIBE_CLUSTER_EVENTS", "false"]]


def test_azd_down_leaves_a_topic_with_only_the_events_identity_without_identity(tmp_path: Path) -> None:
    run = run_hook(tmp_path, REMOVE, _their_topic_listed(EVENTS_ID))
    assert run.returncode == 0, run.stderr
    [patch] = run.az("rest")
    assert run.file(option(patch, "--body")) == {"identity": {"type": "None"}}


def test_every_hook_takes_its_json_from_files_in_sh(tmp_path: Path) -> None:
    """Row 3's twin in sh: bodies and tags are files (the PowerShell hooks must, and the two stay alike)."""
    run = run_hook(tmp_path, SUBSCRIBE, [*_their_topic_listed("/x/id-platform"), DEPLOYED,
                                         {"match": ["system-topic show", "identity.type"],
                                          "answers": [{"stdout": "UserAssigned\n"}]}])
    assert run.returncode == 0, run.stderr
    for call in run.az("rest") + run.az("deployment"):
        assert not [a for a in call if a.lstrip().startswith(("{", "["))], call


@pytest.mark.parametrize("script", [SUBSCRIBE, ASSIGN, REMOVE], ids=lambda p: p.name)
def test_hooks_run_with_a_posix_sh(script: Path) -> None:
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    assert os.access(script, os.X_OK), f"{script.name} is not executable (azd runs it directly)"
