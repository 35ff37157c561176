"""Every `console` transcript in the README and docs/ is the real CLI's output: each block's commands run in one
bash, in order, against a fresh long-lived local Azure in a private state directory (stopped at the end).

Compared after normalising what differs from run to run, and only that: process ids, ISO times, durations
(`1.8s`), request ids (`run-…`, `cli-…`), the GUIDs in an AKS OIDC issuer URL (the local Azure draws them per
cluster), and a line repeated with the same text (how many times the service found an install `still Creating`
depends on real time). Re-capture after changing the CLI's output:
`REGEN=1 .venv/bin/python -m pytest tests/contract/test_docs_transcripts.py` rewrites each block with the real
output; read the diff before committing it.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
BLOCK = re.compile(r"```console\n(.*?)```", re.S)
pytestmark = pytest.mark.slow

NORMALISE = [
    (re.compile(r"\bpid \d+"), "pid <pid>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"), "<time>"),
    (re.compile(r"\b\d+\.\ds\b"), "<s>"),
    (re.compile(r"\b(run|cli)-[0-9a-f]{12}\b"), r"\1-<id>"),
    (re.compile(r"(oic\.prod-aks\.azure\.com)/[0-9a-f-]{36}/[0-9a-f-]{36}/"), r"\1/<tenant>/<cluster>/"),
]


def normalised(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        for pattern, replacement in NORMALISE:
            line = pattern.sub(replacement, line)
        line = line.rstrip()
        if not out or out[-1] != line:
            out.append(line)
    return out


def transcripts() -> list[tuple[Path, str]]:
    return [(page, block) for page in PAGES for block in BLOCK.findall(page.read_text())]


def commands_and_outputs(block: str) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for line in block.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"output before the first command: {line!r}"
            steps[-1][1].append(line)
    return steps


def run_block(steps: list[tuple[str, list[str]]], state_dir: Path) -> list[list[str]]:
    """Runs the commands in one bash (variables carry over, pipes and `echo "exit $?"` work as shown), stdout and
    stderr interleaved as on a terminal; returns each command's output lines."""
    marker = f"@@{uuid.uuid4().hex}@@"
    script = "exec 2>&1\n" + "".join(f"echo '{marker}'\n{command}\n" for command, _ in steps)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", ARGOBOOT_STATE_DIR=str(state_dir),
               PYTHONUNBUFFERED="1", COLUMNS="80")  # argparse wraps --help to the terminal's width
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    parts = done.stdout.split(marker + "\n")[1:]
    assert len(parts) == len(steps), done.stdout
    return [part.rstrip("\n").split("\n") if part.strip() else [] for part in parts]


def _stop(state_dir: Path) -> None:
    env = dict(os.environ, ARGOBOOT_STATE_DIR=str(state_dir))
    stopped = subprocess.run([str(BIN / "argoboot"), "emulator", "stop"], env=env, capture_output=True, text=True,
                             timeout=60)
    pid = re.search(r"pid (\d+)", stopped.stdout)
    if pid and stopped.returncode != 0:
        os.killpg(int(pid.group(1)), signal.SIGKILL)  # the local Azure this test started, by its id


def test_the_docs_have_a_cli_transcript() -> None:
    assert any("$ argoboot plan" in block for _, block in transcripts())


@pytest.mark.parametrize(("page", "block"), transcripts(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_a_console_transcript_is_the_real_output(page: Path, block: str, tmp_path: Path) -> None:
    """Catches a transcript the CLI no longer prints: a changed message, exit code, column or step."""
    steps = commands_and_outputs(block)
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    try:
        real = run_block(steps, state_dir)
    finally:
        _stop(state_dir)
    if os.environ.get("REGEN") == "1":
        fresh = "".join(f"$ {command}\n" + "".join(f"{line}\n" for line in output)
                        for (command, _), output in zip(steps, real, strict=True))
        page.write_text(page.read_text().replace(f"```console\n{block}```", f"```console\n{fresh}```", 1))
        return
    mismatches = [f"$ {command}\n--- the page says:\n" + "\n".join(shown) + "\n--- the CLI printed:\n" +
                  "\n".join(output)
                  for (command, shown), output in zip(steps, real, strict=True)
                  if normalised(shown) != normalised(output)]
    assert mismatches == [], (f"{page.name}: a transcript differs from the real output (REGEN=1 rewrites it):\n" +
                              "\n\n".join(mismatches))
