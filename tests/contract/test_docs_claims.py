"""What the README and docs/ claim, checked against the code and against real runs.

Each test says what it would catch. The demo's excerpt and the request counts are compared with a real run;
on a mismatch the message prints the real output, so whoever changes the demo re-captures by pasting it.
"""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from shared.bootstrap.argocd_extension import HA_MIN_NODES
from shared.bootstrap.outcome import Phase

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
#: CamelCase string constants in shared/ and handlers/ that are names, not codes (table columns, role names,
#: Azure's enum values, a setting's prefix). Anything else of that shape is a code the service can emit.
NOT_CODES = {"AbacRepositoryPermissions", "AcrPull", "AzurePublicCloud", "ClaimedAt", "ClusterAdmin", "ClusterIP",
             "ClusterId", "KeyVault", "LegacyRegistryPermissions", "LoadBalancer", "PartitionKey", "QueuedAt",
             "RowKey", "ServiceBusConnection", "ServicePrincipal"}


def text(page: Path) -> str:
    return page.read_text()


def test_the_readme_is_short_with_short_lines() -> None:
    """Catches the README growing back into the whole manual (issue 26: at most 250 lines, none over 120)."""
    lines = text(README).splitlines()
    assert len(lines) <= 250
    assert [n for n, line in enumerate(lines, 1) if len(line) > 120] == []


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_doc_page_says_who_it_is_for(page: Path) -> None:
    """Catches a page without its audience line, `*For <audience>: ...*`, among its first three lines."""
    lines = text(page).splitlines()
    assert any(re.fullmatch(r"\*?For [^*:]+: .+", line) for line in lines[:3]), lines[:3]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    body = re.sub(r"```.*?```", "", text(page), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", body, flags=re.M)}


def test_every_relative_link_and_anchor_resolves() -> None:
    """Catches a link to a moved or renamed page or heading (the README's sections moved to docs/)."""
    broken = []
    for page in PAGES:
        body = re.sub(r"```.*?```", "", text(page), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", body):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def _dev_commands() -> tuple[set[str], set[str]]:
    script = (ROOT / "dev").read_text()
    case = script[script.index('case "$command" in'):]
    return set(re.findall(r"^  (\w+)\)", case, flags=re.M)), set(re.findall(r'= (\w+) \]; then shift', case))


def test_every_dev_command_in_the_docs_exists() -> None:
    """Catches `./dev X` or `./dev bench Y` in a page when `dev` has no such command."""
    commands, benches = _dev_commands()
    assert {"demo", "test", "bench", "argoboot"} <= commands and "latency" in benches
    unknown = []
    for page in PAGES:
        for command, sub in re.findall(r"\./dev (\w+)(?: (\w+))?", text(page)):
            if command not in commands or (command == "bench" and sub and sub not in benches):
                unknown.append(f"{page.name}: ./dev {command} {sub}")
    assert unknown == []


def emitted_codes() -> set[str]:
    """Every code-shaped string constant of the service (outcome codes, refusal reasons, Azure's codes it
    handles), derived from the code: a new code appears here without anyone listing it."""
    codes = set()
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][A-Za-z0-9]*)+", node.value):
                codes.add(node.value)
    return codes - NOT_CODES


def test_troubleshooting_lists_every_code_the_service_emits() -> None:
    """Catches a new outcome or error code (a RequestRejected reason, a PermanentError, a status API error)
    that operators would meet without a word on what to do."""
    page = text(ROOT / "docs" / "troubleshooting.md")
    codes = emitted_codes()
    assert {"NotEnoughNodesForHA", "InvalidJson", "WaitTimedOut", "MissingAppRole", "HubWithoutArgoCD"} <= codes
    assert sorted(code for code in codes if f"`{code}`" not in page) == []


def test_phase_lists_name_every_phase_the_code_can_record() -> None:
    """Catches a phase list that misses one (issue 26: the status API's missed `uninstalled` and `skipped`)."""
    phases = {phase.value for phase in Phase}
    assert {"uninstalled", "skipped"} <= phases
    status_api = re.search(r"the same, one phase: (.+) \|", text(ROOT / "docs" / "status-api.md"))
    assert status_api is not None and set(re.findall(r"`(\w+)`", status_api.group(1))) == phases
    outcomes = text(ROOT / "docs" / "troubleshooting.md").split("## Outcomes")[1].split("\n## ")[0]
    assert set(re.findall(r"^\| `(\w+)` \|", outcomes, flags=re.M)) == phases | {"rejected"}


def run_demo(*args: str) -> str:
    """The demo's output; its exit code is the outcome's (the claims below read the outcome from the output)."""
    done = subprocess.run([sys.executable, "demo.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr and done.stdout, done.stderr
    return done.stdout


def _in_order(excerpt: list[str], output: str) -> list[str]:
    """The excerpt's lines not found, in order, among the output's (spaces trimmed; a line ending in `…` is a
    prefix of the real one, so the README stays within 120 characters)."""
    lines, at, missing = [line.strip() for line in output.splitlines()], 0, []
    for want in (line.strip() for line in excerpt if line.strip()):
        prefix = want[:-1].rstrip() if want.endswith("…") else None
        found = next((i for i in range(at, len(lines))
                      if (lines[i].startswith(prefix) if prefix is not None else lines[i] == want)), None)
        if found is None:
            missing.append(want)
        else:
            at = found + 1
    return missing


def test_what_you_will_see_is_the_demos_real_output() -> None:
    """Catches the README's demo excerpt drifting from what `./dev demo` prints (re-capture: paste the last
    lines the failure shows)."""
    readme = text(README)
    section = readme[readme.index("### What you will see"):]
    excerpt = re.search(r"```text\n(.*?)```", section, flags=re.S)
    assert excerpt is not None
    output = run_demo()
    missing = _in_order(excerpt.group(1).splitlines(), output)
    tail = "\n".join(output.rstrip().splitlines()[-40:])
    assert missing == [], f"not in the demo's output, in order: {missing}\nthe demo's last lines:\n{tail}"


def test_the_demo_claims_in_the_readme_hold() -> None:
    """Catches "--nodes 3 succeeds single-node" or "--profile ha --nodes 3 is refused" becoming untrue, or the
    HA threshold the README states drifting from the code's (Microsoft: HA needs four nodes)."""
    readme = " ".join(text(README).split())  # phrases may wrap
    assert HA_MIN_NODES == 4 and f"HA needs at least {HA_MIN_NODES} schedulable nodes" in readme
    assert "`./dev demo --nodes 3` installs a single-node Argo CD, `--nodes 4` an HA one" in readme
    for nodes, ha in (("3", "false"), ("4", "true")):
        shown = run_demo("--nodes", nodes)
        assert "final state: ledger phase succeeded" in shown, shown
        assert re.search(rf"redis-ha\.enabled'?: '{ha}'", shown), shown  # a dict before issue 26b, YAML after
    assert "`./dev demo --profile ha --nodes 3`: refused before anything is written (`NotEnoughNodesForHA`)" in readme
    refused = run_demo("--profile", "ha", "--nodes", "3")
    if "ARM requests:" not in refused:  # the request dump behind --requests (issue 26)
        refused = run_demo("--profile", "ha", "--nodes", "3", "--requests")
    assert "NotEnoughNodesForHA" in refused and "ARM requests:" in refused, refused
    assert not re.search(r"(PUT|POST|PATCH) +\d{3} ", refused), refused  # nothing written
    assert "`./dev demo --arc`: an Azure Arc-connected cluster" in readme
    arc = run_demo("--arc")
    assert "connectedClusters/write" in arc and "final state: ledger phase succeeded" in arc, arc
    assert "`./dev demo --hub`: a new cluster registered on one central Argo CD (a hub)" in readme
    assert re.search(r"registered on hub \S+ as ", run_demo("--hub"))


def _bench_requests() -> dict[str, Counter[str]]:
    """`./dev bench`'s first figures, measured the way it measures them (benchmarks/bootstrap.py: arm_requests):
    a new cluster first in a fresh subscription, a second one with the providers cached, a no-op reconcile."""
    from localazure.stack import QUEUE, SUBSCRIPTION, LocalAzure
    from shared.azure.outbox import OutgoingMessage
    from shared.bootstrap.cluster_ids import session_id_of

    figures: dict[str, Counter[str]] = {}
    with LocalAzure() as az:
        az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, "rg-bench", "aks-first"))
        az.drain()
        figures["first"] = Counter(r.method for r in az.arm.requests)
        az.arm.clear_log()
        later = az.arm.add_aks_cluster(SUBSCRIPTION, "rg-bench", "aks-later")
        az.deliver_event(later)
        az.drain()
        figures["cached"] = Counter(r.method for r in az.arm.requests)
        figures["polls"] = Counter(poll=sum(1 for r in az.arm.requests
                                            if r.method == "GET" and r.path.endswith("/extensions/argocd")) - 1)
        az.arm.clear_log()
        cluster_id = later["data"]["resourceUri"]
        body = json.dumps({"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": cluster_id})
        az.bus.send(OutgoingMessage(queue=QUEUE, body=body.encode(), message_id="noop",
                                    session_id=session_id_of(cluster_id.lower())))
        az.drain()
        figures["noop"] = Counter(r.method for r in az.arm.requests)
    return figures


def _row(counts: Counter[str]) -> str:
    return f"{sum(counts.values())} ({', '.join(f'{method} {n}' for method, n in sorted(counts.items()))}"


def _demo_requests() -> tuple[int, int]:
    """The demo's ARM request count and its checks of the cluster while it was `Creating`."""
    output = run_demo()
    counted = re.search(r"ARM requests: (\d+)", output) or re.search(r"ARM requests: (\d+)", run_demo("--requests"))
    assert counted is not None, output
    creating = output.split("cluster is Creating")[1].split("work_items")[0]
    more = re.search(r"\.\.\. (\d+) more check", creating)
    return int(counted.group(1)), 1 + (int(more.group(1)) if more else 0)


def test_the_request_counts_the_docs_state_are_measured() -> None:
    """Catches the README's and performance.md's first-cluster count drifting from a run (exact: the local Azure
    runs on a virtual clock, so the count is deterministic), and the demo's larger count no longer being the
    benchmark's plus one GET per check of the create wait."""
    figures = _bench_requests()
    total = sum(figures["first"].values())
    readme, performance = " ".join(text(README).split()), text(ROOT / "docs" / "performance.md")
    assert f"costs {total} ARM requests (`./dev bench`" in readme
    assert f"first of the deployment | {_row(figures['first'])}:" in performance, _row(figures["first"])
    assert f"providers cached | {_row(figures['cached'])}:" in performance, _row(figures["cached"])
    assert f"{figures['polls']['poll']} status polls of the 120 s install" in performance, figures["polls"]
    assert f"converged cluster | {sum(figures['noop'].values())} (" in performance, figures["noop"]
    demo, create_checks = _demo_requests()
    assert demo == total + create_checks, (demo, total, create_checks)
    assert f"The demo shows more ({demo})" in readme


def test_the_exit_code_table_is_the_one_the_cli_lists() -> None:
    """Catches docs/cli.md's exit codes drifting from those `argoboot --help` lists (and the CLI returns)."""
    done = subprocess.run([str(Path(sys.executable).parent / "argoboot"), "--help"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "80"})
    listed = done.stdout.split("exit codes:")[1]  # a list ("0 ok, 1 failed, ...") or a table, a code a line
    table = text(ROOT / "docs" / "cli.md").split("| Exit code | Meaning |")[1].split("\n\n")[0]
    codes = set(re.findall(r"(?:^|[,:\n])\s*(\d+)\s+\S", listed))
    assert {"0", "1", "2"} <= codes and set(re.findall(r"^\| (\d+) \|", table, flags=re.M)) == codes, listed


def test_the_complete_profile_example_is_valid_and_has_every_key() -> None:
    """Catches docs/profiles.md's "every key, in one complete example" going stale: a key the parser refuses, a
    section or key it gained that the example lacks (hub and rollout have their own pages), or the HA threshold in
    its comment drifting from the code's."""
    import yaml

    from shared.bootstrap.gitops_profile import GITOPS_KEYS
    from shared.bootstrap.profiles import _LAYOUT, parse_profile

    page = text(ROOT / "docs" / "profiles.md")
    block = re.search(r"```yaml\n(# profiles/platform.yaml\n.*?)```", page, flags=re.S)
    assert block is not None
    example = block.group(1)
    for placeholder, value in {"<sub>": "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01", "<rg>": "rg-platform",
                               "<name>": "acrplatform", "<entra-group-object-id>": "group-1"}.items():
        example = example.replace(placeholder, value)
    data = yaml.safe_load(example)
    parse_profile("platform", data, source="docs/profiles.md")
    assert set(_LAYOUT) - {"hub", "rollout"} == set(data)
    for section, keys in _LAYOUT.items():
        if keys is not None and section in data and section != "gitops":
            assert set(data[section]) == keys, section
    assert set(data["gitops"]) == GITOPS_KEYS
    assert f"# auto: redis-ha on {HA_MIN_NODES}+ schedulable nodes" in example


def test_configuration_lists_every_setting_the_service_reads() -> None:
    """Catches an app setting added to shared/settings.py that operators cannot find in docs/configuration.md."""
    names = {node.value for node in ast.walk(ast.parse((ROOT / "shared" / "settings.py").read_text()))
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and re.fullmatch(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+", node.value)}
    assert {"ALLOWED_SUBSCRIPTIONS", "EXTENSION_POLL_SECONDS", "STATUS_API_ROLE"} <= names
    page = text(ROOT / "docs" / "configuration.md")
    assert sorted(name for name in names if f"`{name}`" not in page) == []


def test_the_readmes_poll_schedule_sentence_is_the_rule() -> None:
    """Catches the README's one sentence about the poll schedule drifting from `next_check`: a first check after
    0.5 s, gaps doubling up to the cap, Azure's `Retry-After` taken exactly."""
    from shared.bootstrap.poll_schedule import next_check

    readme = " ".join(text(README).split())
    assert ("a wait is checked after 0.5 s, then at doubling gaps up to a cap, and exactly when Azure says to come "
            "back (`Retry-After`) when it does") in readme
    at, gaps = 0.0, []
    for _ in range(8):
        gaps.append(next_check(elapsed=at, cap=15.0))
        at += gaps[-1]
    assert gaps == [min(15.0, 0.5 * 2 ** i) for i in range(8)]
    assert next_check(elapsed=3.0, cap=15.0, retry_after=40.0) == 40.0


def test_the_readmes_burst_figure_is_the_recorded_one() -> None:
    """Catches the README's burst figure drifting from the one performance.md records for `./dev bench burst`
    (not re-run here: two minutes), or the recorded one from its own bound: within 1 % of it."""
    readme = " ".join(text(README).split())
    claim = re.search(r"200 new clusters at once finish in ([\d.]+) s, against a lower bound of ([\d.]+) s", readme)
    assert claim is not None
    makespan, bound = float(claim.group(1)), float(claim.group(2))
    performance = text(ROOT / "docs" / "performance.md")
    assert f"| Lower bound: max(writes (400 - 200) / 10/s, identity creates (100 - 10) / 2/s) + install 120 s | " \
           f"{bound:g} s |" in performance
    assert f"| Makespan (burst delivered to last cluster recorded) | {makespan} s (" in performance
    assert makespan / bound <= 1.01
