"""The real Azure CLI (`az`, pinned in requirements-tools.txt) drives the tutorial's manual path against the
long-lived local Azure over HTTPS, then the service acts on the same cluster: each sees what the other made.

One local Azure for the module (started fresh: the Kubernetes providers NotRegistered), `az` with its config in a
temporary folder and telemetry off, signed in with the local Azure's managed identity. Every command's exit code
and the fields it prints are asserted; the emulator's request logs say what was sent.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localazure.az_tutorial import AZ, CLOUD, NAMESPACES, AzCli, Cost, RequestLog, TutorialPath
from localazure.daemon import STATE_FILE, Control, DaemonState
from localazure.stack import SUBSCRIPTION

ARGOBOOT = Path(sys.executable).parent / "argoboot"
GROUP = "rg-tutorial"
SUBJECTS = ("system:serviceaccount:argocd:argocd-repo-server",
            "system:serviceaccount:argocd:argocd-application-controller")
pytestmark = pytest.mark.slow  # no skip without az: `./dev test` installs it, and AzCli says so when it is missing


@dataclass
class World:
    state_dir: Path
    state: DaemonState
    control: Control
    log: RequestLog
    path: TutorialPath
    aks_id: str
    arc_id: str

    def argoboot(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, ARGOBOOT_STATE_DIR=str(self.state_dir))
        return subprocess.run([str(ARGOBOOT), *args], env=env, capture_output=True, text=True, timeout=180)

    def add_cluster(self, name: str, *args: str) -> str:
        added = self.argoboot("emulator", "add-cluster", name, "--resource-group", GROUP, *args, "-o", "json")
        assert added.returncode == 0, added.stderr
        return str(json.loads(added.stdout)["clusterResourceId"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state_dir = tmp_path_factory.mktemp("argoboot-state")
    state_dir.chmod(0o700)
    env = dict(os.environ, ARGOBOOT_STATE_DIR=str(state_dir))
    started = subprocess.run([str(ARGOBOOT), "emulator", "start", "--providers", "fresh", "-o", "json"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    state = DaemonState(**json.loads((state_dir / STATE_FILE).read_text()))
    control = Control(state)
    try:  # the clusters come after the providers, as in the tutorial
        yield World(state_dir, state, control, RequestLog(control),
                    TutorialPath(AzCli(state, tmp_path_factory.mktemp("azure-config")), "", GROUP), "", "")
    finally:
        subprocess.run([str(ARGOBOOT), "emulator", "stop"], env=env, capture_output=True, timeout=60)
        try:
            os.killpg(state.pid, 0)
        except ProcessLookupError:
            pass
        else:  # it did not stop: end what this fixture started, by its id
            os.killpg(state.pid, signal.SIGKILL)
            pytest.fail(f"the local Azure (pid {state.pid}) did not stop")


def ok(world: World, step: str) -> Any:
    result = world.path.results[step]
    assert result.code == 0, f"az {' '.join(result.args)} exited {result.code}: {result.stderr}"
    return result.json() if result.stdout.strip() else None


def test_the_tutorial_path_through_az_and_the_service_on_the_same_cluster(world: World) -> None:
    path, log = world.path, world.log
    version = subprocess.run([str(AZ), "version", "-o", "json"], env=path.az.env(), capture_output=True, text=True,
                             timeout=60)
    assert json.loads(version.stdout)["azure-cli"] == "2.91.0"  # the pinned client, not whatever is on PATH
    mark = log.mark()

    # -------------------------------------------------------- sign in: the cloud's metadata, a JWT, the subscriptions
    path.sign_in()
    assert ok(world, "cloud register") is None and ok(world, "cloud set") is None
    [account] = ok(world, "login")
    assert account["id"] == SUBSCRIPTION and account["environmentName"] == CLOUD and account["state"] == "Enabled"
    assert account["user"] == {"assignedIdentityInfo": "MSI", "name": "systemAssignedIdentity",
                               "type": "servicePrincipal"}
    shown = ok(world, "account show")
    assert shown["id"] == SUBSCRIPTION and shown["isDefault"] is True and shown["tenantId"] == account["tenantId"]

    # -------------------------------------------------------- providers: NotRegistered -> Registered, waited for
    fresh = path.az("provider", "list", "--query", "[?namespace=='Microsoft.KubernetesConfiguration' || "
                    "namespace=='Microsoft.Kubernetes' || namespace=='Microsoft.ContainerService'].registrationState",
                    "-o", "json")
    assert fresh.code == 0 and fresh.json() == ["NotRegistered"] * 3, fresh.stderr
    path.register_providers()
    for namespace in NAMESPACES:
        assert ok(world, f"provider register {namespace}") is None
    provider = ok(world, "provider show")
    assert (provider["namespace"], provider["registrationState"]) == ("Microsoft.KubernetesConfiguration", "Registered")
    assert "extensions" in {t["resourceType"] for t in provider["resourceTypes"]}

    # -------------------------------------------------------- the cluster, its group, identities, credentials
    world.aks_id = path.aks_id = world.add_cluster("aks-tutorial")  # as `az aks create` would have made it
    world.arc_id = world.add_cluster("arc-tutorial", "--arc")
    issuer = path.cluster_and_identities(SUBJECTS)
    cluster = ok(world, "aks show")
    assert cluster["name"] == "aks-tutorial" and cluster["provisioningState"] == "Succeeded"
    assert cluster["oidcIssuerProfile"]["issuerUrl"] == issuer and issuer.startswith("https://eastus.oic.prod-aks")
    kubelet = cluster["identityProfile"]["kubeletidentity"]["objectId"]
    assert kubelet != cluster["identity"]["principalId"]  # two principals, as in Azure
    assert cluster["eTag"]
    assert [c["name"] for c in ok(world, "aks list")] == ["aks-tutorial"]
    group = ok(world, "group show")
    assert group["name"] == GROUP and group["location"] == "eastus" and group["properties"]["provisioningState"] == \
        "Succeeded"
    made = ok(world, "identity create")
    assert made["location"] == "eastus" and made["name"] == "id-argocd"  # no -l: az read the group's location
    assert made["tenantId"] == account["tenantId"] and made["principalId"] and made["clientId"]
    assert ok(world, "identity create -l")["location"] == "westeurope"
    missing = path.results["identity create, no group"]
    assert missing.code != 0 and "ResourceGroupNotFound" in missing.stderr and "rg-missing" in missing.stderr
    credentials = ok(world, "federated-credential list")
    assert sorted(c["subject"] for c in credentials) == sorted(SUBJECTS)
    assert {c["issuer"] for c in credentials} == {issuer} and all(
        c["audiences"] == ["api://AzureADTokenExchange"] for c in credentials)

    # -------------------------------------------------------- the extension through az rest
    path.install_extension()
    assert ok(world, "extension put")["properties"]["provisioningState"] == "Creating"
    installed = ok(world, "extension get")["properties"]
    assert installed["provisioningState"] == "Succeeded" and installed["extensionType"] == "Microsoft.ArgoCD"
    assert ok(world, "extension patch")["properties"]["provisioningState"] == "Updating"
    patched = ok(world, "extension get after patch")["properties"]
    assert patched["provisioningState"] == "Succeeded" and patched["configurationSettings"]["server.replicas"] == "2"
    path.arc_cluster(world.arc_id)
    arc = ok(world, "arc get")
    assert arc["type"] == "Microsoft.Kubernetes/connectedClusters"
    assert arc["properties"]["connectivityStatus"] == "Connected" and arc["properties"]["totalNodeCount"] == 4
    az_cost, az_requests = log.since(mark)
    _assert_cost(az_cost, az_requests, path.az.results)

    # -------------------------------------------------------- the service sees what az made ...
    plain = world.argoboot("run", world.aks_id, "--emulator", "-o", "json")  # az made it: skipped (7)
    assert plain.returncode == 7 and json.loads(plain.stdout)["error"]["code"] == "ExtensionNotOwned", plain.stdout
    service = log.mark()
    run = world.argoboot("run", world.aks_id, "--adopt", "--emulator", "-o", "json")
    assert run.returncode == 0, run.stderr
    outcome = json.loads(run.stdout)
    assert outcome["outcome"] == "succeeded"
    service_cost, sent = log.since(service)
    assert not [r for r in sent if r["method"] == "POST"]  # az registered the providers: nothing to register
    assert [r["method"] for r in sent if "/extensions/argocd" in r["path"] and r["method"] != "GET"] == ["PATCH"]
    assert service_cost.tokens >= 1

    # -------------------------------------------------------- ... and az what the service made
    after = path.wait_for_extension("extension get after the service", poll_seconds=0.5)
    settings = after.json()["properties"]["configurationSettings"]
    # Adopting keeps what the person set that the profile does not (server.replicas); the profile owns redis-ha.
    assert settings["server.replicas"] == "2" and settings["redis-ha.enabled"] == "true"
    assert settings["argoboot.keptSettings"] == '["server.replicas"]'
    path.delete_extension()
    assert path.results["extension delete"].code == 0
    gone = path.results["extension get after delete"]
    assert gone.code != 0 and "ResourceNotFound" in gone.stderr

    wi = world.argoboot("run", world.aks_id, "--profile", "workload-identity", "--emulator", "-o", "json")
    assert wi.returncode == 0, wi.stderr
    created = next(s for s in json.loads(wi.stdout)["steps"] if s.startswith("created managed identity "))
    name = created.split()[3]
    theirs = path.run("federated-credential list, the service's", "identity", "federated-credential", "list",
                      "-g", GROUP, "--identity-name", name, "-o", "json")
    assert theirs.code == 0 and sorted(c["subject"] for c in theirs.json()) == sorted(SUBJECTS)
    print(f"\naz path: {az_cost.summary()}\nservice: {service_cost.summary()}")


def _assert_cost(cost: Cost, requests: list[dict[str, Any]], results: list[Any]) -> None:
    """What az sent, read from the local Azure's logs: every ARM request with an api-version, one token request per
    command that reached ARM, the cloud's metadata read without one."""
    assert cost.requests == len(requests) > 0 and cost.arm["POST"] == 3  # one register per namespace
    assert cost.arm["PUT"] == 6  # 3 identities (one refused), 2 credentials, the extension
    assert all(r["query"].get("api-version") for r in requests), [r for r in requests if not r["query"]]
    assert requests[0]["path"].endswith("/metadata/endpoints") and requests[0]["status"] == 200
    assert cost.tokens == sum(1 for r in results if r.args[0] != "cloud")  # each az process signs in once


def test_az_identity_round_trip_as_its_scenario_tests_run_it(world: World) -> None:
    """What Microsoft's `az identity` scenario tests do, against the local Azure: a group, an identity, its
    associated resources, a federated credential by claims-matching expression, and the group deleted (issue 29)."""
    path, group = world.path, "rg-identity-scenario"
    if "login" not in path.results:  # run alone: sign in first
        path.sign_in()
    assert path.run("group create", "group", "create", "-n", group, "-l", "eastus", "-o", "json").code == 0
    made = path.run("identity create scenario", "identity", "create", "-g", group, "-n", "id-scenario", "-o", "json")
    assert made.code == 0, made.stderr
    shown = path.run("identity show", "identity", "show", "-g", group, "-n", "id-scenario", "-o", "json")
    assert shown.code == 0 and shown.json()["principalId"] == made.json()["principalId"]
    operations = path.run("identity list-operations", "identity", "list-operations", "-o", "json")
    assert operations.code == 0 and "Microsoft.ManagedIdentity/userAssignedIdentities/write" in [
        o["name"] for o in operations.json()], operations.stderr
    updated = path.run("identity update restricted", "identity", "update", "-g", group, "-n", "id-scenario",
                       "--resource-restriction", '{"providers":["Microsoft.Compute"]}', "--isolation-scope",
                       "Regional", "-o", "json")
    assert updated.code == 0, updated.stderr
    assert updated.json()["assignmentRestrictions"] == {"providers": ["Microsoft.Compute"]}
    assert updated.json()["isolationScope"] == "Regional"
    listed = path.run("identity list -g", "identity", "list", "-g", group, "-o", "json")
    assert listed.code == 0 and [i["name"] for i in listed.json()] == ["id-scenario"]
    associated = path.run("identity list-resources", "identity", "list-resources", "-g", group, "-n", "id-scenario",
                          "-o", "json")
    assert associated.code == 0 and associated.json() == [], associated.stderr
    expression = "claims['sub'] matches 'repo:contoso/*'"
    fic = path.run("federated-credential create by claims", "identity", "federated-credential", "create", "-g", group,
                   "--identity-name", "id-scenario", "-n", "fic-claims", "--issuer",
                   "https://token.actions.githubusercontent.com", "--cme-value", expression, "--cme-version", "1",
                   "--audiences", "api://AzureADTokenExchange", "-o", "json")
    assert fic.code == 0, fic.stderr
    assert fic.json()["claimsMatchingExpression"] == {"value": expression, "languageVersion": 1}
    newer = "claims['sub'] eq 'repo:contoso/app:ref:refs/heads/main'"
    changed = path.run("federated-credential update by claims", "identity", "federated-credential", "update", "-g",
                       group, "--identity-name", "id-scenario", "-n", "fic-claims", "--issuer",
                       "https://token.actions.githubusercontent.com", "--cme-value", newer, "--cme-version", "1",
                       "--audiences", "api://AzureADTokenExchange", "-o", "json")
    assert changed.code == 0 and changed.json()["claimsMatchingExpression"]["value"] == newer, changed.stderr
    deleted = path.run("group delete", "group", "delete", "-n", group, "--yes")
    assert deleted.code == 0, deleted.stderr
    exists = path.run("group exists", "group", "exists", "-n", group)
    assert exists.code == 0 and exists.text == "false", exists.stderr
    gone = path.run("identity show after group delete", "identity", "show", "-g", group, "-n", "id-scenario")
    assert gone.code != 0 and "ResourceGroupNotFound" in gone.stderr
