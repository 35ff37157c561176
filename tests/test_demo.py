"""The README's first command: the demo runs the main job end to end and ends on its result.

Each test runs the real demo (a subprocess, the local Azure in it) and reads what a newcomer reads.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from demo import DEFAULT_NODES, MAX_NODES
from shared.bootstrap.argocd_extension import HA_MIN_NODES

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 40  # lines of the default output: the README shows its end


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "demo.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=180)


def requests_told(text: str) -> tuple[int, int, int]:
    """(all ARM requests, those of the create wait, those of the bootstrap), as the demo says them."""
    total = re.search(r"^ARM requests: (\d+) \(", text, re.MULTILINE)
    create = re.search(r"^  (\d+) waiting for the cluster's create \(", text, re.MULTILINE)
    rest = re.search(r"^  (\d+) for the bootstrap itself \(", text, re.MULTILINE)
    assert total and create and rest, text
    return int(total.group(1)), int(create.group(1)), int(rest.group(1))


def test_the_demo_ends_on_its_outcome_within_forty_lines() -> None:
    out = run_demo()
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) <= LIMIT, out.stdout
    assert lines[-2].startswith("+") and "final state: ledger phase succeeded; extension argocd (Microsoft.ArgoCD" \
        in lines[-2] and "Succeeded, version" in lines[-2], lines[-2]
    # The default cluster has 3 nodes (az aks create's default), one short of HA: said, and installed without it.
    assert lines[-1] == "outcome: succeeded: Argo CD installed, not HA (one replica of redis) (exit 0)"
    text = out.stdout
    for expected in (f"{DEFAULT_NODES} node(s), still being created",
                     "Event Grid  Microsoft.Resources.ResourceWriteSuccess", "cluster_events  enqueued",
                     "registered provider Microsoft.KubernetesConfiguration", "- cluster is Creating",
                     "install started", "next check in 0.5s", "next checks after 1.0, 2.0, 4.0",
                     f"HA needs at least {HA_MIN_NODES} schedulable nodes"):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    assert not re.search(r"next check in \d+s", text)  # one decimal: a 0.5 s gap is not "0s"
    # The settings as YAML, one key a line.
    start = lines.index("extension settings (configurationSettings):")
    assert lines[start + 1:start + 3] == ["  redis-ha.enabled: 'false'", "  argoboot.managedBy: argoboot"]
    total, create, install = requests_told(text)
    assert total == create + install and create > 0 and install > 0
    assert not re.search(r"^  GET +200 ", text, re.MULTILINE)  # the dump only with --requests


def test_requests_lists_every_arm_request_and_the_count_matches() -> None:
    out = run_demo("--requests")
    assert out.returncode == 0, out.stderr
    dump = re.findall(r"^  (GET|PUT|POST|PATCH|DELETE) +\d{3}  /subscriptions/", out.stdout, re.MULTILINE)
    total, _, _ = requests_told(out.stdout)
    assert len(dump) == total and dump.count("PUT") == 1 and dump.count("POST") == 2
    assert out.stdout.splitlines()[-1].startswith("outcome: succeeded")


def test_node_counts_aks_would_not_take_are_refused_before_anything_runs() -> None:
    for nodes in ("0", "-1", str(MAX_NODES + 1), "three"):
        out = run_demo("--nodes", nodes)
        assert out.returncode == 2, (nodes, out.stdout)
        assert "argument --nodes" in out.stderr and "Local Azure up" not in out.stdout
    assert f"AKS takes 1 to {MAX_NODES} nodes in a node pool" in run_demo("--nodes", "0").stderr


def test_help_shows_the_defaults() -> None:
    out = run_demo("--help")
    text = " ".join(out.stdout.split())
    assert out.returncode == 0 and f"(default: {DEFAULT_NODES})" in text and "(default: default)" in text
    assert "--requests" in text and f"HA needs at least {HA_MIN_NODES}" in text


def test_ha_forced_on_the_default_three_node_cluster_is_refused_plainly() -> None:
    out = run_demo("--profile", "ha")
    assert out.returncode == 6, out.stdout + out.stderr  # argoboot's "refused"
    lines = out.stdout.splitlines()
    assert lines[-2].endswith("final state: ledger phase failed; no extension argocd on the cluster")
    assert lines[-1].startswith("outcome: refused: NotEnoughNodesForHA: profile 'ha' requires HA, and HA needs at "
                                f"least {HA_MIN_NODES} schedulable nodes (Microsoft's") and "(exit 6)" in lines[-1]
    _, _, install = requests_told(out.stdout)
    assert "PUT" not in out.stdout and install == 1  # refused on one read of the ready cluster, nothing written


def test_ha_on_four_nodes_is_installed_with_ha() -> None:
    out = run_demo("--profile", "ha", "--nodes", str(HA_MIN_NODES))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "outcome: succeeded: Argo CD installed, HA (redis-ha) (exit 0)"
    assert "  redis-ha.enabled: 'true'" in out.stdout


def test_demo_with_the_workload_identity_profile_shows_the_identity_and_its_credentials() -> None:
    out = run_demo("--profile", "workload-identity")
    assert out.returncode == 0, out.stderr
    for expected in ("created managed identity argocd-aks-payments-prod-", "  federated credential "
                     "argoboot-argocd-repo-server: system:serviceaccount:argocd:argocd-repo-server",
                     "  azure.workloadIdentity.enabled: 'true'"):
        assert expected in out.stdout, f"{expected!r} missing from:\n{out.stdout}"
    assert out.stdout.splitlines()[-1].startswith("outcome: succeeded")


def test_demo_with_the_gitops_bridge_profile_shows_the_second_operation_and_the_rendered_objects() -> None:
    out = run_demo("--profile", "gitops-bridge", "--rendered")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    install = text.index("install started: Creating (the root Application follows once Argo CD and its CRDs are "
                         "installed)")
    patch = text.index("root Application added (extraObjects[1]), now that Argo CD's CRDs are installed")
    assert install < patch < text.index("final state: ledger phase succeeded")
    assert "  extraObjects[0]: |\n    apiVersion: v1\n    kind: Secret\n" in text  # YAML, not a dict on one line
    assert max(len(line) for line in text.splitlines()) < 300
    for expected in ("name: argocd-cluster-aks-payments-prod", "argocd.argoproj.io/secret-type: cluster",
                     "environment: prod", "cost_center: '4711'", "addons_repo_path: bootstrap/control-plane/addons",
                     "enable_cert_manager: 'true'", "cert_manager_chart_version: v1.16.2",  # labels, as strings
                     "kind: Application", "path: clusters/aks/aks-payments-prod", "name: argocd-repo-creds-root",
                     "rendered by the argo-cd chart"):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    assert re.search(r"^ARM requests: \d+ \(GET \d+, PATCH 1, POST \d+, PUT \d+\)", text, re.MULTILINE)
    assert text.splitlines()[-1].startswith("outcome: succeeded")


def test_the_hub_demo_ends_on_each_clusters_outcome() -> None:
    out = run_demo("--hub")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[-4:-1] == ["outcome:", "  aks-hub     succeeded (exit 0)", "  aks-team-a  succeeded (exit 0)"]
    assert lines[-1].startswith("  aks-legacy  refused: SpokeWithoutEntra: ") and "az aks update" in lines[-1]
    assert lines[-1].endswith("(exit 6)")
