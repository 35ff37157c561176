"""The README's first command: the demo runs the main job end to end and prints its timeline."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "demo.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_demo_bootstraps_an_aks_cluster_and_prints_the_timeline() -> None:
    out = run_demo()
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for expected in ("Event Grid   Microsoft.Resources.ResourceWriteSuccess", "cluster_events  enqueued",
                     "registered provider Microsoft.KubernetesConfiguration", "cluster is Creating",
                     "install started", "final state: ledger phase succeeded",
                     "configurationSettings {'redis-ha.enabled': 'true', 'argoboot.managedBy': 'argoboot'}"):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    requests = re.search(r"ARM requests: (\d+) \(GET (\d+), POST (\d+), PUT (\d+)\)", text)
    # A fresh subscription (the local Azure's default) with a new AKS cluster: the service registers the two
    # namespaces the cluster's creation did not (Microsoft.Kubernetes, Microsoft.KubernetesConfiguration).
    assert requests is not None and int(requests.group(4)) == 1 and int(requests.group(3)) == 2


def test_demo_refuses_forced_ha_on_a_small_cluster_with_the_fix() -> None:
    out = run_demo("--nodes", "3", "--profile", "ha")
    assert out.returncode == 1
    assert "NotEnoughNodesForHA" in out.stdout and "at least 4 schedulable nodes (Microsoft's" in out.stdout


def test_demo_with_the_workload_identity_profile_shows_the_identity_and_its_credentials() -> None:
    out = run_demo("--profile", "workload-identity")
    assert out.returncode == 0, out.stderr
    for expected in ("created managed identity argocd-aks-payments-prod-", "federated credential "
                     "argoboot-argocd-repo-server: system:serviceaccount:argocd:argocd-repo-server from https://",
                     "'azure.workloadIdentity.enabled': 'true'", "final state: ledger phase succeeded"):
        assert expected in out.stdout, f"{expected!r} missing from:\n{out.stdout}"


def test_demo_with_the_gitops_bridge_profile_shows_the_second_operation_and_the_rendered_objects() -> None:
    out = run_demo("--profile", "gitops-bridge")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    install = text.index("install started: Creating (the root Application follows once Argo CD and its CRDs are "
                         "installed)")
    patch = text.index("root Application added (extraObjects[1]), now that Argo CD's CRDs are installed")
    assert install < patch < text.index("final state: ledger phase succeeded")
    for expected in ("name: argocd-cluster-aks-payments-prod", "argocd.argoproj.io/secret-type: cluster",
                     "environment: prod", "cost_center: '4711'", "addons_repo_path: bootstrap/control-plane/addons",
                     "enable_cert_manager: 'true'", "cert_manager_chart_version: v1.16.2",  # labels, as strings
                     "kind: Application", "path: clusters/aks/aks-payments-prod", "name: argocd-repo-creds-root"):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    requests = re.search(r"ARM requests: \d+ \(GET \d+, PATCH (\d+), POST \d+, PUT (\d+)\)", text)
    assert requests is not None and requests.group(1) == "1"
