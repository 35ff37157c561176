"""Every command docs/deploy.md tells a person to run is checked against what it drives.

The shell blocks are parsed the way a shell splits them (command substitutions are commands too). A deployment
(`az deployment sub|group create`) must name a template that exists, pass only parameters the template declares and
every one it requires (and a location at subscription scope); a script from infra/scripts must be given every
variable it reads; `azd env set` must set a value main.parameters.json or the hooks read. The parser's own check
(the first test) feeds it the command this guide used to show without `location`.
"""
from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, MAIN, ROOT, parse, required_parameters

DEPLOY_DOC = ROOT / "docs" / "deploy.md"
PROGRAMS = {"az", "azd", "func"}
AZD_OWN = {"AZURE_LOCATION", "AZURE_SUBSCRIPTION_ID", "AZURE_ENV_NAME"}  # azd's own values, read by main.parameters
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
_PLACEHOLDER = re.compile(r"<[^<>\n]+?>")


@dataclass(frozen=True)
class Command:
    env: dict[str, str]
    words: list[str]
    source: str

    def option(self, *names: str) -> str | None:
        for i, word in enumerate(self.words):
            if word in names and i + 1 < len(self.words):
                return self.words[i + 1]
        return None

    def parameters(self) -> dict[str, str]:
        """name=value pairs after -p/--parameters, up to the next option."""
        found: dict[str, str] = {}
        taking = False
        for word in self.words:
            if word in ("-p", "--parameters"):
                taking = True
            elif word.startswith("-"):
                taking = False
            elif taking:
                name, _, value = word.partition("=")
                found[name] = value
        return found


def commands_in(text: str) -> list[Command]:
    """The commands of the doc's bash blocks: continuation lines joined, `$(...)` taken out as commands of their
    own, placeholders like <APP_PRINCIPAL_ID> made single words, then split at |, && and ;."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            inner = _SUBSTITUTION.findall(line)
            line = _SUBSTITUTION.sub("SUBSTITUTED", line)
            for part in [line, *inner]:
                part = _PLACEHOLDER.sub("PLACEHOLDER", part)
                lexer = shlex.shlex(part, posix=True, punctuation_chars="|&;")
                lexer.whitespace_split = True
                words: list[str] = []
                for token in [*lexer, ";"]:
                    if token and set(token) <= set("|&;"):
                        command = _command(words, part)
                        if command.words:  # not a bare assignment (`role=$(az ...)`: its command is checked)
                            found.append(command)
                        words = []
                    else:
                        words.append(token)
    return found


def _command(words: list[str], source: str) -> Command:
    env = {}
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return Command(env, words, source)


def problems_with(command: Command) -> list[str]:
    words = command.words
    program = words[0]
    if program.startswith("infra/scripts/"):
        return _script_problems(command)
    if program not in PROGRAMS:
        return [f"{program}: not a program this guide may ask for ({sorted(PROGRAMS)} or infra/scripts/)"]
    if program == "az" and words[1:2] == ["deployment"] and words[3:4] == ["create"]:
        return _deployment_problems(command)
    if program == "azd" and words[1:3] == ["env", "set"]:
        return _azd_env_problems(command)
    return []


def _deployment_problems(command: Command) -> list[str]:
    template = command.option("-f", "--template-file")
    if template is None:
        return [f"{command.source}: no template (-f)"]
    path = ROOT / template
    if not path.exists():
        return [f"{command.source}: {template} does not exist"]
    declared = parse(path)["parameters"]
    required = required_parameters(path)
    given = command.parameters()
    problems = [f"{template} has no parameter {name!r}" for name in sorted(set(given) - set(declared))]
    problems += [f"{template} needs {name!r}, which the command does not pass"
                 for name in sorted(required - set(given))]
    if command.words[2] == "sub" and command.option("-l", "--location") is None:
        problems.append(f"{template}: a subscription deployment needs -l/--location")
    return [f"{p}: {command.source.strip()}" for p in problems]


def _script_problems(command: Command) -> list[str]:
    script = ROOT / command.words[0]
    if not script.exists():
        return [f"{command.words[0]} does not exist"]
    sources = (script, script.parent / "lib.sh") if "lib.sh" in script.read_text() else (script,)
    text = "\n".join(path.read_text() for path in sources)
    reads = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", text)) - set(re.findall(r"\$\{([A-Z0-9_]+):-", text))
    missing = sorted(reads - set(command.env))
    return [f"{command.words[0]} reads {name}, which the command does not set" for name in missing]


def _azd_env_problems(command: Command) -> list[str]:
    given = (INFRA / "main.parameters.json").read_text()
    read = set(re.findall(r"\$\{(\w+)", given)) | AZD_OWN
    name = command.words[3]
    return [] if name in read else [f"azd env set {name}: main.parameters.json never reads it"]


def test_the_checker_catches_the_documented_deployment_without_location() -> None:
    [old] = commands_in("```bash\naz deployment sub create -n argoboot -l swedencentral -f infra/main.bicep "
                        "-p environmentName=argoboot-prod\n```\n")
    assert problems_with(old) == [f"infra/main.bicep needs 'location', which the command does not pass: {old.source}"]
    [typo] = commands_in("```bash\naz deployment sub create -f infra/main.bicep -p environmentName=x location=y "
                         "subscribeClusterEvent=true\n```\n")
    assert any("no parameter 'subscribeClusterEvent'" in p for p in problems_with(typo))
    assert any("needs -l/--location" in p for p in problems_with(typo))
    [script] = commands_in("```bash\nAZURE_LOCATION=x infra/scripts/assign-bootstrapper-role.sh\n```\n")
    assert {p.split(" reads ")[1].split(",")[0] for p in problems_with(script)} == \
        {"AZURE_SUBSCRIPTION_ID", "AZURE_ENV_NAME", "APP_PRINCIPAL_ID", "DEPLOYMENT_SUFFIX", "ROLE_DEFINITION_ID",
         "IDENTITY_ROLE_DEFINITION_ID"}


def test_every_command_in_the_deployment_guide_matches_what_it_drives() -> None:
    commands = commands_in(DEPLOY_DOC.read_text())
    problems = [p for command in commands for p in problems_with(command)]
    assert problems == [], "\n".join(problems)
    deployments = [c for c in commands if c.words[:2] == ["az", "deployment"] and "create" in c.words]
    templates = {c.option("-f", "--template-file") for c in deployments}
    assert {"infra/main.bicep", "infra/onboard-subscription.bicep"} <= templates
    main_runs = [c.parameters() for c in deployments if c.option("-f") == "infra/main.bicep"]
    assert any(p.get("subscribeClusterEvents") == "true" for p in main_runs)
    # The reuse of an existing topic: by the event subscription's own deployment, and when onboarding.
    assert not any(p.get("existingSystemTopicName") for p in main_runs)
    assert any(c.parameters().get("reuseExistingTopic") == "true" for c in deployments
               if c.option("-f") == "infra/modules/cluster-events.bicep" and c.words[2] == "group")
    assert any(c.parameters().get("existingSystemTopicName") for c in deployments
               if c.option("-f") == "infra/onboard-subscription.bicep")
    scripts = {c.words[0] for c in commands if c.words[0].startswith("infra/scripts/")}
    assert scripts == {"infra/scripts/assign-bootstrapper-role.sh", "infra/scripts/create-status-api-app.sh"}
    assert len(commands) >= 20, f"only {len(commands)} commands found: is the parser still reading the blocks?"


@pytest.mark.parametrize("block", re.findall(r"```bash\n(.*?)```", DEPLOY_DOC.read_text(), re.S))
def test_every_shell_block_is_valid_shell(block: str, tmp_path: Path) -> None:
    script = tmp_path / "block.sh"
    script.write_text(_PLACEHOLDER.sub("PLACEHOLDER", block))  # <APP_PRINCIPAL_ID> is for the reader to fill in
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + block


def test_main_parameters_the_guide_mentions_exist() -> None:
    declared = set(parse(MAIN)["parameters"])
    mentioned = set(re.findall(r"`([a-z]\w*)=(?:true|false|<)", DEPLOY_DOC.read_text()))
    assert mentioned, "the guide names no parameter=value"
    onboard = set(parse(INFRA / "onboard-subscription.bicep")["parameters"])
    assert mentioned - declared - onboard == set()
