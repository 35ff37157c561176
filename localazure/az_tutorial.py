"""The Argo CD tutorial's manual path through the real Azure CLI (`az`), against the long-lived local Azure.

`az` is a client nobody here wrote: if the local Azure answers it as Azure does, the service's tests mean
something. `AzCli` runs the `az` that `./dev` installs into `.venv-tools` with a private config folder,
telemetry, surveys and update checks off, the local Azure's CA trusted and its managed identity to sign in
with. `TutorialPath` runs the tutorial's steps in phases (sign in, providers, cluster and identities, the
extension, the Arc cluster) and keeps every command's result; `RequestLog` prices a stretch of work from the
local Azure's own request logs (ARM requests by kind, token requests, wall time). The acceptance test
(`tests/acceptance/test_az_cli.py`) asserts the results; `./dev bench` prints the cost beside the service's.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localazure.daemon import ROOT, Control, DaemonState

AZ = ROOT / ".venv-tools" / "bin" / "az"
CLOUD = "LocalAzure"
NAMESPACES = ("Microsoft.Kubernetes", "Microsoft.ContainerService", "Microsoft.KubernetesConfiguration")
EXTENSIONS_API = "2023-05-01"
ARC_API = "2024-01-01"
#: What the tutorial installs: Argo CD, release train preview, cluster scope in namespace argocd.
ARGOCD = {
    "properties": {
        "extensionType": "Microsoft.ArgoCD",
        "releaseTrain": "preview",
        "autoUpgradeMinorVersion": True,
        "scope": {"cluster": {"releaseNamespace": "argocd"}},
        "configurationSettings": {"redis-ha.enabled": "true"},
    }
}
#: Credentials from a user's environment that would make `az` (or MSAL) sign in as someone else.
_FOREIGN = ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_SUBSCRIPTION_ID", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT")


@dataclass(frozen=True)
class AzResult:
    """One `az` invocation: its arguments, exit code, output and wall time."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def text(self) -> str:
        return self.stdout.strip()


class AzCli:
    """The real `az`, signed in (once `login --identity` has run) as the local Azure's managed identity."""

    def __init__(self, state: DaemonState, config_dir: Path, executable: Path = AZ) -> None:
        if not executable.exists():
            raise FileNotFoundError(f"{executable} is missing: `./dev test` installs azure-cli into .venv-tools")
        self.executable = executable
        self.state = state
        self.config_dir = config_dir
        self.results: list[AzResult] = []

    def env(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if name not in _FOREIGN}
        env.update({
            "AZURE_CONFIG_DIR": str(self.config_dir),
            "AZURE_CORE_COLLECT_TELEMETRY": "false",
            "AZURE_CORE_SURVEY_MESSAGE": "false",
            "AZURE_CORE_NO_COLOR": "true",
            "AZURE_CORE_DISABLE_CONFIRM_PROMPT": "true",
            "AZURE_AUTO_UPGRADE_ENABLE": "no",
            "AZURE_EXTENSION_USE_DYNAMIC_INSTALL": "no",
            "REQUESTS_CA_BUNDLE": self.state.settings["ARM_CA_BUNDLE"],  # az reaches ARM through requests
            "IDENTITY_ENDPOINT": self.state.settings["IDENTITY_ENDPOINT"],  # as on App Service and Functions
            "IDENTITY_HEADER": self.state.settings["IDENTITY_HEADER"],
        })
        return env

    def __call__(self, *args: str, timeout: float = 180) -> AzResult:
        started = time.perf_counter()
        done = subprocess.run([str(self.executable), *args], env=self.env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        result = AzResult(tuple(args), done.returncode, done.stdout, done.stderr, time.perf_counter() - started)
        self.results.append(result)
        return result

    def concurrently(self, *commands: tuple[str, ...]) -> list[AzResult]:
        """Several commands at once, as a person would start them in the background (`&`)."""
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            return list(pool.map(lambda args: self(*args), commands))


@dataclass(frozen=True)
class Cost:
    """What a stretch of work sent the local Azure, from its logs: ARM requests by method, token requests."""

    seconds: float
    arm: Counter[str]
    tokens: int

    @property
    def requests(self) -> int:
        return sum(self.arm.values())

    def summary(self) -> str:
        methods = ", ".join(f"{method} {count}" for method, count in sorted(self.arm.items()))
        return f"{self.seconds:5.1f}s wall, {self.requests:3d} ARM requests ({methods}), {self.tokens} token requests"


@dataclass(frozen=True)
class Mark:
    arm: int
    token: int
    started: float


class RequestLog:
    """The local Azure's ARM and token request logs, read through its control endpoint from a mark."""

    def __init__(self, control: Control) -> None:
        self._control = control

    def mark(self) -> Mark:
        return Mark(self._next("arm"), self._next("token"), time.perf_counter())

    def since(self, mark: Mark) -> tuple[Cost, list[dict[str, Any]]]:
        """The cost since the mark, and the ARM requests themselves (method, path, query, status, kind)."""
        arm = self._control.call("GET", f"/arm/requests?since={mark.arm}")["requests"]
        tokens = self._control.call("GET", f"/token/requests?since={mark.token}")["requests"]
        seconds = time.perf_counter() - mark.started
        return Cost(seconds, Counter(str(r["method"]) for r in arm), len(tokens)), arm

    def _next(self, log: str) -> int:
        return int(self._control.call("GET", f"/{log}/requests?since=0")["next"])


@dataclass
class TutorialPath:
    """The tutorial's manual steps through `az`, phase by phase, for one AKS cluster (and one Arc cluster)."""

    az: AzCli
    aks_id: str
    resource_group: str
    results: dict[str, AzResult] = field(default_factory=dict)

    def run(self, step: str, *args: str) -> AzResult:
        result = self.results[step] = self.az(*args)
        return result

    def sign_in(self) -> None:
        """Register the local Azure as a cloud (its ARM serves the endpoints without a token), sign in."""
        arm = self.az.state.settings["ARM_ENDPOINT"]
        self.run("cloud register", "cloud", "register", "-n", CLOUD, "--endpoint-resource-manager", f"{arm}/")
        self.run("cloud set", "cloud", "set", "-n", CLOUD)
        self.run("login", "login", "--identity", "-o", "json")
        self.run("account show", "account", "show", "-o", "json")

    def register_providers(self) -> None:
        """`az provider register --wait` for the three namespaces, at once (each polls every 10 s)."""
        commands = [("provider", "register", "-n", namespace, "--wait") for namespace in NAMESPACES]
        for namespace, result in zip(NAMESPACES, self.az.concurrently(*commands), strict=True):
            self.results[f"provider register {namespace}"] = result
        self.run("provider show", "provider", "show", "-n", "Microsoft.KubernetesConfiguration", "-o", "json")

    def cluster_and_identities(self, subjects: tuple[str, ...]) -> str:
        """Read the cluster and its group, make two identities (one in the group's location, one given) and two
        federated credentials for the cluster's issuer; returns the issuer."""
        name, group = self.aks_id.rsplit("/", 1)[1], self.resource_group
        self.run("aks show", "aks", "show", "-g", group, "-n", name, "-o", "json")
        issuer = self.run("aks show issuer", "aks", "show", "-g", group, "-n", name,
                          "--query", "oidcIssuerProfile.issuerUrl", "-o", "tsv").text
        self.run("aks list", "aks", "list", "-g", group, "-o", "json")
        self.run("group show", "group", "show", "-n", group, "-o", "json")
        self.run("identity create", "identity", "create", "-g", group, "-n", "id-argocd", "-o", "json")
        self.run("identity create -l", "identity", "create", "-g", group, "-n", "id-argocd-westeu", "-l",
                 "westeurope", "-o", "json")
        self.run("identity create, no group", "identity", "create", "-g", "rg-missing", "-n", "id-argocd", "-l",
                 "eastus", "-o", "json")
        for subject in subjects:
            account = subject.rsplit(":", 1)[1]
            self.run(f"federated-credential create {account}", "identity", "federated-credential", "create",
                     "-g", group, "--identity-name", "id-argocd", "-n", f"fic-{account}", "--issuer", issuer,
                     "--subject", subject, "--audiences", "api://AzureADTokenExchange", "-o", "json")
        self.run("federated-credential list", "identity", "federated-credential", "list", "-g", group,
                 "--identity-name", "id-argocd", "-o", "json")
        return issuer

    def extension_url(self) -> str:
        extension = f"{self.aks_id}/providers/Microsoft.KubernetesConfiguration/extensions/argocd"
        return f"{extension}?api-version={EXTENSIONS_API}"

    def install_extension(self, poll_seconds: float = 0.5) -> None:
        """PUT the extension, GET it until it has Succeeded, PATCH a setting, GET until Succeeded again."""
        url = self.extension_url()
        self.run("extension put", "rest", "--method", "put", "--url", url, "--body", json.dumps(ARGOCD))
        self.wait_for_extension("extension get", poll_seconds)
        patch = {"properties": {"configurationSettings": {"server.replicas": "2"}}}
        self.run("extension patch", "rest", "--method", "patch", "--url", url, "--body", json.dumps(patch))
        self.wait_for_extension("extension get after patch", poll_seconds)

    def wait_for_extension(self, step: str, poll_seconds: float, tries: int = 40) -> AzResult:
        """GET the extension until its provisioningState is terminal (the last GET is kept under `step`)."""
        for _ in _attempts(tries, poll_seconds):
            result = self.run(step, "rest", "--method", "get", "--url", self.extension_url())
            if result.code != 0 or result.json()["properties"]["provisioningState"] in ("Succeeded", "Failed"):
                return result
        raise TimeoutError(f"the extension did not finish in {tries} GETs: {self.results[step].stdout}")

    def delete_extension(self, poll_seconds: float = 0.5, tries: int = 40) -> None:
        """DELETE the extension, then GET it until ARM answers 404."""
        self.run("extension delete", "rest", "--method", "delete", "--url", self.extension_url())
        for _ in _attempts(tries, poll_seconds):
            if self.run("extension get after delete", "rest", "--method", "get", "--url",
                        self.extension_url()).code != 0:
                return
        raise TimeoutError(f"the extension was still there after {tries} GETs")

    def arc_cluster(self, arc_id: str) -> None:
        self.run("arc get", "rest", "--method", "get", "--url", f"{arc_id}?api-version={ARC_API}")


def _attempts(tries: int, pause: float) -> Iterator[int]:
    for attempt in range(tries):
        if attempt:
            time.sleep(pause)
        yield attempt
