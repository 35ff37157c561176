"""The `argoboot` console script end to end: every command as a subprocess against the long-lived local Azure.

One local Azure per module, started by the first `--emulator` command (as a newcomer's would be)
in a private state directory, and stopped at the end with nothing left running. Assertions read
the emulator's own state and request log through its control endpoint, not the CLI's word.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localazure.daemon import STATE_FILE, Control, DaemonState
from localazure.stack import OTHER_SUBSCRIPTION, SUBSCRIPTION
from shared.bootstrap.cluster_ids import parse_cluster_id, session_id_of
from shared.bootstrap.gitops import REGISTRATIONS_KEY
from shared.bootstrap.hub_registration import spoke_name
from shared.settings import REPOSITORY_PROFILES

ARGOBOOT = Path(sys.executable).parent / "argoboot"
pytestmark = pytest.mark.slow


def aks(name: str, subscription: str = SUBSCRIPTION) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/rg-demo/providers/"
            f"Microsoft.ContainerService/managedClusters/{name}")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Cli:
    state_dir: Path

    def __call__(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Result:
        env = dict(os.environ, **(env or {}), ARGOBOOT_STATE_DIR=str(self.state_dir))
        done = subprocess.run([str(ARGOBOOT), *args], env=env, capture_output=True, text=True, timeout=timeout)
        return Result(done.returncode, done.stdout, done.stderr)

    @property
    def control(self) -> Control:
        return Control(DaemonState(**json.loads((self.state_dir / STATE_FILE).read_text())))

    def add_cluster(self, name: str, *args: str) -> str:
        added = self("emulator", "add-cluster", name, *args, "-o", "json")
        assert added.code == 0, added.stderr
        return str(added.json["clusterResourceId"])


def _alive_group(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    state_dir = tmp_path_factory.mktemp("argoboot-state")
    state_dir.chmod(0o700)
    cli = Cli(state_dir)
    first = cli("status", "--emulator", "-o", "json")  # nothing running: this starts the local Azure
    assert first.code == 0, first.stderr
    assert "started the local Azure" in first.stderr and first.json == {"phase": None, "clusters": []}
    pid = json.loads((state_dir / STATE_FILE).read_text())["pid"]
    try:
        yield cli
    finally:
        stopped = cli("emulator", "stop")
        if _alive_group(pid):  # it did not stop: end what this fixture started, by its id
            os.killpg(pid, signal.SIGKILL)
            pytest.fail(f"the local Azure (pid {pid}) did not stop: {stopped.stdout}{stopped.stderr}")
        assert stopped.code == 0 and f"stopped (pid {pid})" in stopped.stdout
        assert not (state_dir / STATE_FILE).exists()


def test_the_console_script_is_installed_and_documents_its_exit_codes() -> None:
    done = subprocess.run([str(ARGOBOOT), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("run", "plan", "submit", "status", "emulator"):
        assert command in done.stdout
    table = done.stdout[done.stdout.index("exit codes:"):]
    for line in ("    0  done:", "    1  failed:", "    2  bad arguments", "    3  not found:", "    4  Azure",
                 "    5  still waiting", "    6  refused", "    7  skipped", "  130  interrupted", "  141  whoever"):
        assert f"\n{line}" in table, table
    for command, waits in (("run", True), ("submit", True), ("plan", False)):
        sub = subprocess.run([str(ARGOBOOT), command, "--help"], capture_output=True, text=True, timeout=60).stdout
        assert "\n    6  refused" in sub and "\n    7  skipped" in sub and ("\n    5  still waiting" in sub) is waits


def test_run_and_plan_offer_reinstall_and_say_what_it_removes() -> None:
    for command in ("run", "plan"):
        done = subprocess.run([str(ARGOBOOT), command, "--help"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "--reinstall" in done.stdout
        assert "every Application" in " ".join(done.stdout.split())


def test_later_commands_reuse_the_running_local_azure(cli: Cli) -> None:
    pid = cli.control.state.pid
    again = cli("emulator", "status", "-o", "json")
    assert again.code == 0 and again.json["status"] == "running" and again.json["pid"] == pid
    assert "token" not in again.stdout and "AccountKey" not in again.stdout
    assert oct((cli.state_dir / STATE_FILE).stat().st_mode & 0o777) == "0o600"


def test_run_bootstraps_a_cluster_and_records_it(cli: Cli) -> None:
    cluster_id = cli.add_cluster("aks-run")
    done = cli("run", cluster_id, "--emulator", "-o", "json")
    assert done.code == 0, done.stdout + done.stderr
    result = done.json
    assert result["outcome"] == "succeeded" and result["error"] is None and result["recorded"] is True
    assert any("install started" in s for s in result["steps"])
    assert result["steps"][-1].startswith("extension argocd Succeeded")

    state = cli.control.call("GET", f"/clusters?id={cluster_id}")  # the emulator's word, not the CLI's
    ext = state["extension"]["properties"]
    assert ext["provisioningState"] == "Succeeded" and ext["configurationSettings"] == {"redis-ha.enabled": "true",
                                                                                "argoboot.managedBy": "argoboot"}
    assert ext["extensionType"].lower() == "microsoft.argocd" and ext["releaseTrain"] == "preview"

    request = cli("status", "--request", result["requestId"], "--emulator", "-o", "json")
    assert request.code == 0 and request.json["request"]["status"] == "succeeded"
    assert request.json["request"]["clusterKey"] == cluster_id.lower()


def test_run_prints_its_steps_as_plain_lines_when_not_on_a_terminal(cli: Cli) -> None:
    cluster_id = cli.add_cluster("aks-run-text", "--nodes", "1")
    done = cli("run", cluster_id, "--emulator", "--profile", "single-node")
    assert done.code == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"Bootstrapping {cluster_id}" and lines[1] == "  profile single-node, on the local Azure"
    assert any(line.endswith("cluster checked: 1 node(s); profile 'single-node' says ha: off "
                             "(redis-ha.enabled=false)") for line in lines), lines
    assert lines[-2].startswith("succeeded after") and lines[-1].startswith("recorded in the ledger as request run-")
    assert "\r" not in done.stdout + done.stderr  # no spinner in a pipe


def test_plan_sends_only_reads_and_shows_the_settings_key_by_key(cli: Cli) -> None:
    cluster_id = cli.add_cluster("aks-plan", "--nodes", "2")
    mark = cli.control.call("GET", "/arm/requests")["next"]
    done = cli("plan", cluster_id, "--emulator", "-o", "json")
    assert done.code == 0, done.stdout + done.stderr
    sent = cli.control.call("GET", f"/arm/requests?since={mark}")["requests"]
    assert sent and {r["method"] for r in sent} == {"GET"}, sent
    assert cli.control.call("GET", f"/clusters?id={cluster_id}")["extension"] is None

    plan = done.json
    assert plan["observed"]["cluster"]["nodeCount"] == 2 and plan["observed"]["extension"] is None
    # The providers are registered first when this test runs before any other in the emulator (a plan registers
    # them and goes on): the rest of the plan is the same either way.
    changes = [c for c in plan["changes"] if c["action"] != "register-provider"]
    assert [c["action"] for c in changes] == ["create-extension"], plan["changes"]
    assert changes[0]["settings"] == [
        {"key": "argoboot.managedBy", "current": None, "desired": "argoboot", "change": "add"},
        {"key": "redis-ha.enabled", "current": None, "desired": "false", "change": "add"}]
    assert plan["outcome"] == "waiting" and plan["waitingOn"] == "extension"

    text = cli("plan", cluster_id, "--emulator")
    assert text.code == 0
    assert "  + install argocd (Microsoft.ArgoCD, Azure's default release train, namespace argocd)" in text.stdout
    assert '      + redis-ha.enabled: "false"' in text.stdout
    assert "dry run: nothing is changed" in text.stdout


def test_plan_of_a_bootstrapped_cluster_has_no_changes(cli: Cli) -> None:
    cluster_id = cli.add_cluster("aks-plan-done")
    assert cli("run", cluster_id, "--emulator").code == 0
    done = cli("plan", cluster_id, "--emulator")
    assert done.code == 0
    assert "No changes. Extension settings:" in done.stdout and '= redis-ha.enabled: "true"' in done.stdout


def test_plan_that_would_be_refused_says_why_with_exit_code_6(cli: Cli) -> None:
    cluster_id = cli.add_cluster("aks-plan-ha", "--nodes", "2")
    done = cli("plan", cluster_id, "--profile", "ha", "--emulator")
    assert done.code == 6
    assert "Would fail: NotEnoughNodesForHA" in done.stdout


def test_submit_wait_follows_the_request_until_it_succeeds(cli: Cli) -> None:
    cluster_id = cli.add_cluster("aks-submit")
    done = cli("submit", cluster_id, "--wait", "--reply-to", "replies", "--emulator", "-o", "json")
    assert done.code == 0, done.stdout + done.stderr
    result = done.json
    assert result["status"] == "succeeded" and result["sessionId"] == session_id_of(cluster_id.lower())
    assert result["requestId"].startswith("cli-") and result["steps"][-1].startswith("extension argocd Succeeded")

    replies = cli.control.call("GET", "/queues/replies")["active"]
    [reply] = [r for r in replies if r["correlationId"] == result["requestId"]]
    assert json.loads(reply["body"])["outcome"] == "succeeded"
    record = cli("status", cluster_id, "--emulator", "-o", "json").json["cluster"]
    assert record["phase"] == "succeeded" and record["lastRequestId"] == result["requestId"]
    ext = cli.control.call("GET", f"/clusters?id={cluster_id}")["extension"]
    assert ext["properties"]["provisioningState"] == "Succeeded"


def test_submit_of_an_unallowed_subscription_is_rejected_by_the_service(cli: Cli) -> None:
    done = cli("submit", aks("aks-elsewhere", OTHER_SUBSCRIPTION), "--request-id", "team-b-7", "--wait",
               "--emulator", "-o", "json")
    assert done.code == 6  # refused: the service judged the request invalid
    assert done.json["status"] == "rejected" and done.json["error"]["code"] == "SubscriptionNotAllowed"
    dead = cli.control.call("GET", "/queues/install-requests")["deadLetters"]
    assert any(d["messageId"] == "team-b-7" and d["reason"] == "SubscriptionNotAllowed" for d in dead)


def test_status_lists_clusters_by_phase(cli: Cli) -> None:
    failing = cli.add_cluster("aks-too-small", "--nodes", "2")
    done = cli("run", failing, "--profile", "ha", "--emulator", "-o", "json")
    assert done.code == 6 and done.json["error"]["code"] == "NotEnoughNodesForHA"  # a pre-flight refusal

    failed = cli("status", "--phase", "failed", "--emulator", "-o", "json")
    assert failed.code == 0
    ids = {c["clusterResourceId"]: c for c in failed.json["clusters"]}
    assert failing in ids and ids[failing]["lastError"]["code"] == "NotEnoughNodesForHA"
    assert all(c["phase"] == "failed" for c in failed.json["clusters"])

    text = cli("status", "--phase", "failed", "--emulator")
    assert text.stdout.startswith("PHASE      WAITING ON  LAST CHANGED          CLUSTER")
    assert failing in text.stdout and "NotEnoughNodesForHA" in text.stdout

    one = cli("status", failing, "--emulator")
    assert one.code == 0 and "  phase         failed" in one.stdout
    assert "  last error    NotEnoughNodesForHA: profile 'ha' requires HA" in one.stdout


def test_status_of_a_hub_lists_its_spokes_and_of_a_spoke_names_its_hub(cli: Cli, tmp_path: Path) -> None:
    import shutil

    hub, spoke = cli.add_cluster("aks-cli-hub"), cli.add_cluster("aks-cli-spoke")
    for profile in REPOSITORY_PROFILES.glob("*.yaml"):
        shutil.copy(profile, tmp_path)
    (tmp_path / "hub.yaml").write_text("workloadIdentity:\n  enabled: true\n  serviceAccounts: [argocd-repo-server, "
                                       "argocd-application-controller, argocd-server]\nhub:\n  serve: true\n")
    (tmp_path / "spokes.yaml").write_text(f"hub:\n  cluster: {hub}\n")
    env = {"PROFILES_DIR": str(tmp_path)}
    for cluster_id, profile in ((hub, "hub"), (spoke, "spokes")):
        done = cli("run", cluster_id, "--profile", profile, "--emulator", "-o", "json", env=env, timeout=300)
        assert done.code == 0, done.stdout + done.stderr
    name = spoke_name(parse_cluster_id(spoke))
    state = cli.control.call("GET", f"/clusters?id={hub}")  # the emulator's word: the spoke is on the hub
    assert f"argocd-spoke-{name}" in state["extension"]["properties"]["configurationSettings"][REGISTRATIONS_KEY]

    shown = cli("status", spoke, "--emulator", env=env)
    assert shown.code == 0 and f"  hub           registered on hub aks-cli-hub as {name}" in shown.stdout
    shown = cli("status", hub, "--emulator", env=env)
    assert shown.code == 0 and f"  spokes        1: {name} (succeeded)" in shown.stdout
    as_json = cli("status", hub, "--emulator", "-o", "json", env=env).json["cluster"]
    assert as_json["spokes"] == [{"clusterResourceId": spoke, "name": name, "phase": "succeeded"}]
    assert cli("status", spoke, "--emulator", "-o", "json", env=env).json["cluster"]["registeredOn"] == [
        {"hub": hub, "name": name}]


@pytest.mark.parametrize(("args", "code", "error"), [
    (("run", aks("aks-does-not-exist")), 3, None),
    (("plan", aks("aks-does-not-exist")), 3, None),
    (("run", "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/x"),
     2, "InvalidClusterResourceId"),
    (("plan", aks("aks-run"), "--profile", "gold"), 2, "UnknownProfile"),
    (("submit", aks("aks-run"), "--profile", "gold"), 2, "UnknownProfile"),
    (("status", aks("aks-never-seen")), 3, "ClusterNotInLedger"),
    (("status", "--request", "no-such-request"), 3, "RequestNotFound"),
])
def test_exit_codes_scripts_can_rely_on(cli: Cli, args: tuple[str, ...], code: int, error: str | None) -> None:
    done = cli(*args, "--emulator", "-o", "json")
    assert done.code == code, done.stdout + done.stderr
    if error is None:  # a finished run or plan: the cluster is not there
        assert done.json["error"]["code"] == "ClusterNotFound"
    else:
        assert done.json == {"error": {"code": error, "message": done.json["error"]["message"]}, "exitCode": code}
        assert done.stderr.startswith(f"argoboot: {error}: ")


def test_bad_arguments_exit_2_with_usage(cli: Cli) -> None:
    done = cli("status", "--phase", "exploded")
    assert done.code == 2 and "invalid choice" in done.stderr


def _azure_env(cli: Cli, tmp_path: Path, **settings: str) -> dict[str, str]:
    """Azure mode (no --emulator) with nothing of the user's: no Azure CLI login, no AZURE_* credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "ARM_", "LEDGER_"))}
    return env | {"HOME": str(tmp_path), "AZURE_CONFIG_DIR": str(tmp_path), "ARGOBOOT_STATE_DIR": str(cli.state_dir),
                  **settings}


def test_no_credential_exits_4_and_says_how_to_sign_in(cli: Cli, tmp_path: Path) -> None:
    env = _azure_env(cli, tmp_path, IDENTITY_ENDPOINT="http://127.0.0.1:9/msi/token", IDENTITY_HEADER="x")
    done = subprocess.run([str(ARGOBOOT), "plan", aks("aks-run")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 4, done.stdout + done.stderr
    assert done.stderr.startswith("argoboot: CredentialUnavailable: no token for Azure Resource Manager")
    assert "az login" in done.stderr and len(done.stderr.splitlines()) == 1


def test_unreachable_arm_is_retried_then_exits_4(cli: Cli, tmp_path: Path) -> None:
    local = cli.control.state.settings  # a credential that works (the local identity endpoint); ARM that does not
    env = _azure_env(cli, tmp_path, IDENTITY_ENDPOINT=local["IDENTITY_ENDPOINT"],
                     IDENTITY_HEADER=local["IDENTITY_HEADER"], ARM_ENDPOINT="https://127.0.0.1:9",
                     ARM_RETRY_BACKOFF_SECONDS="0.01", CLUSTER_POLL_SECONDS="0.05")
    done = subprocess.run([str(ARGOBOOT), "run", aks("aks-run"), "-o", "json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 4, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "AzureUnavailable" and "ConnectionError" in error["message"]
    assert "gave up after 4 tries" in error["message"]


def test_a_reader_that_stops_early_ends_the_command_quietly(cli: Cli) -> None:
    env = dict(os.environ, ARGOBOOT_STATE_DIR=str(cli.state_dir))
    process = subprocess.Popen([str(ARGOBOOT), "status", "--emulator", "-o", "json"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # like `| head` that has read enough
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in process.stderr.read()


def test_a_failed_install_exits_1_and_a_refused_run_6(cli: Cli) -> None:
    failing = cli.add_cluster("aks-install-fails", "--fail-installs", "3")  # MAX_INSTALL_ATTEMPTS: 3
    done = cli("run", failing, "--emulator", "-o", "json", timeout=300)
    assert done.code == 1, done.stdout + done.stderr
    assert done.json["outcome"] == "failed" and done.json["error"]["code"] == "ExtensionOperationFailed"
    small = cli.add_cluster("aks-run-ha-small", "--nodes", "3")
    refused = cli("run", small, "--profile", "ha", "--emulator", "-o", "json")
    assert refused.code == 6 and refused.json["error"]["code"] == "NotEnoughNodesForHA", refused.stdout
    sent = cli.control.call("GET", "/arm/requests")["requests"]
    assert not [r for r in sent if r["method"] != "GET" and "aks-run-ha-small" in r["path"]]  # nothing written


def test_run_timeout_exits_5_while_the_cluster_is_still_creating(cli: Cli) -> None:
    cluster_id = cli.add_cluster("aks-slow", "--creating", "3600")
    done = cli("run", cluster_id, "--timeout", "1", "--emulator", "-o", "json")
    assert done.code == 5, done.stdout + done.stderr
    assert done.json["error"]["code"] == "StillWaiting" and "still waiting on cluster" in done.json["error"]["message"]


def test_service_principal_cluster_is_refused_with_the_fix(cli: Cli) -> None:
    cluster_id = cli.add_cluster("aks-sp", "--service-principal")
    done = cli("plan", cluster_id, "--emulator", "-o", "json")
    assert done.code == 6
    assert done.json["error"]["code"] == "ClusterNotManagedIdentity" and "--enable-managed-identity" in done.stdout


def test_an_arc_cluster_announced_by_event_grid_is_bootstrapped_by_the_service(cli: Cli) -> None:
    cluster_id = cli.add_cluster("arc-store-1", "--arc", "--event")
    assert "/Microsoft.Kubernetes/connectedClusters/arc-store-1" in cluster_id
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = cli("status", cluster_id, "--emulator", "-o", "json")
        if record.code == 0 and record.json["cluster"]["phase"] == "succeeded":
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the service did not bootstrap {cluster_id}: {record.stdout}{record.stderr}")
    ext = cli.control.call("GET", f"/clusters?id={cluster_id}")["extension"]
    assert ext["properties"]["provisioningState"] == "Succeeded"


THEIR_CLIENT_ID = "0a1b2c3d-0000-4000-8000-00000000beef"


def test_run_leaves_a_hand_made_extension_alone_and_run_adopt_takes_it_over(cli: Cli) -> None:
    cluster_id = cli.add_cluster("aks-theirs", "--argocd-by-hand", THEIR_CLIENT_ID)
    plan = cli("plan", cluster_id, "--profile", "workload-identity", "--emulator")
    assert plan.code == 7
    assert "Would skip: ExtensionNotOwned" in plan.stdout and "If adopted (argoboot run" in plan.stdout
    assert f'~ azure.workloadIdentity.clientId: "{THEIR_CLIENT_ID}" -> "(assigned by Azure)"' in plan.stdout

    plain = cli("run", cluster_id, "--profile", "workload-identity", "--emulator", "-o", "json")
    assert plain.code == 7 and plain.json["outcome"] == "skipped", plain.stdout + plain.stderr
    assert plain.json["error"]["code"] == "ExtensionNotOwned" and "--adopt" in plain.json["error"]["message"]
    ext = cli.control.call("GET", f"/clusters?id={cluster_id}")["extension"]["properties"]
    assert ext["configurationSettings"]["azure.workloadIdentity.clientId"] == THEIR_CLIENT_ID  # untouched

    adopted = cli("run", cluster_id, "--profile", "workload-identity", "--adopt", "--emulator", "-o", "json")
    assert adopted.code == 0, adopted.stdout + adopted.stderr
    [changed] = [s for s in adopted.json["steps"] if s.startswith("adopted: changed")]
    ext = cli.control.call("GET", f"/clusters?id={cluster_id}")["extension"]["properties"]
    ours = ext["configurationSettings"]["azure.workloadIdentity.clientId"]
    assert ours != THEIR_CLIENT_ID and f'azure.workloadIdentity.clientId: "{THEIR_CLIENT_ID}" -> "{ours}"' in changed

    update = cli("update", cluster_id, "--profile", "workload-identity", "--emulator", "-o", "json")
    assert update.code == 0 and update.json["action"] == "update", update.stdout + update.stderr
    assert update.json["steps"][-1].startswith("extension argocd Succeeded")  # now the service's: no adopt needed


def test_uninstall_removes_what_the_service_created_and_exits_0(cli: Cli) -> None:
    cluster_id = cli.add_cluster("aks-bye")
    assert cli("run", cluster_id, "--profile", "workload-identity", "--emulator").code == 0
    mark = cli.control.call("GET", "/arm/requests")["next"]
    done = cli("uninstall", cluster_id, "--emulator", "-o", "json")
    assert done.code == 0 and done.json["outcome"] == "uninstalled", done.stdout + done.stderr
    sent = cli.control.call("GET", f"/arm/requests?since={mark}")["requests"]
    assert {r["method"] for r in sent if r["method"] == "DELETE"} == {"DELETE"}
    assert cli.control.call("GET", f"/clusters?id={cluster_id}")["extension"] is None
    status = cli("status", cluster_id, "--emulator", "-o", "json")
    assert status.json["cluster"]["phase"] == "uninstalled"
    again = cli("uninstall", cluster_id, "--emulator", "-o", "json")  # idempotent
    assert again.code == 0 and again.json["outcome"] == "uninstalled"
