"""The Windows hooks (infra/scripts/*.ps1), read as PowerShell would split them: no JSON inline in an `az` argument.

Windows PowerShell (5.1, and 7 before 7.3's PSNativeCommandArgumentPassing) strips the double quotes inside the
arguments of a native command, so `--body $json` reaches az as `{identity: {type: UserAssigned}}` and fails; the
hooks write JSON to a file and pass `@path`. There is no pwsh here, so this reads the text: statements joined over
backtick continuations, every `az` invocation's arguments checked.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA

PS_HOOKS = sorted((INFRA / "scripts").glob("*.ps1"))
_ASSIGN_JSON = re.compile(r"^\s*\$(\w+)\s*=.*ConvertTo-Json", re.MULTILINE)


def statements(text: str) -> list[str]:
    """Lines with backtick continuations joined and comments dropped."""
    joined = re.sub(r"`\r?\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def az_invocations(text: str) -> list[str]:
    """Every `az ...` command of the script (at the start of a statement, or after `=` / `{` / `|`)."""
    found = []
    for line in statements(text):
        match = re.search(r"(?:^|[={|;]\s*)(az\s.*)$", line)
        if match:
            found.append(match.group(1))
    return found


def inline_json(text: str) -> list[str]:
    """The az invocations that hand az JSON inline: a literal `{`/`[`, or a variable that holds ConvertTo-Json."""
    json_variables = set(_ASSIGN_JSON.findall(text))
    problems = []
    for call in az_invocations(text):
        arguments = call.split()
        for i, arg in enumerate(arguments):
            bare = arg.strip("\"'")
            value = bare.split("=", 1)[1] if re.match(r"^\w+=", bare) else bare
            if value.startswith(("{", "[")) or value.startswith("@{"):
                problems.append(f"literal JSON in: {call}")
            if re.fullmatch(r"\$(\w+)", value) and value[1:] in json_variables:
                problems.append(f"${value[1:]} (ConvertTo-Json) inline in: {call}")
            if arg == "--body" and not arguments[i + 1].strip("\"'").startswith("@"):
                problems.append(f"--body not from a file (@path) in: {call}")
    return problems


def test_the_check_catches_the_hook_as_it_was() -> None:
    """The lines main's subscribe-cluster-events.ps1 had (tags=$tags, --body $body) fail the check."""
    old = """$body = @{ identity = @{ type = 'UserAssigned' } } | ConvertTo-Json -Depth 5 -Compress
az rest --method patch --url "$($existing.id)?api-version=2022-06-15" --body $body --output none
$tags = @{ 'azd-env-name' = $env:AZURE_ENV_NAME } | ConvertTo-Json -Compress
  az deployment group create `
    --parameters `
      systemTopicName=$topicName `
      tags=$tags `
    --output none
"""
    problems = inline_json(old)
    assert len(problems) == 3, problems  # $body inline, --body not a file, $tags inline


@pytest.mark.parametrize("hook", PS_HOOKS, ids=lambda p: p.name)
def test_no_powershell_hook_passes_json_inline_to_az(hook: Path) -> None:
    text = hook.read_text()
    assert inline_json(text) == []


def test_the_json_files_are_written_before_az_reads_them() -> None:
    text = (INFRA / "scripts" / "subscribe-cluster-events.ps1").read_text()
    calls = az_invocations(text)
    assert any('--body "@$bodyFile"' in c for c in calls) and any('"@$tagsFile"' in c for c in calls)
    for name in ("bodyFile", "tagsFile"):
        assert f"${name} = New-TemporaryFile" in text
        assert re.search(rf"ConvertTo-Json[^\n]*\| Set-Content -Path \${name}", text), name
    # The tags file is a deployment parameters file: what `--parameters @file` reads.
    assert "parameters = @{ tags = @{ value = @{" in text
