"""Starts Azurite's Table service (npm package `azurite`) on loopback, for the ledger.

Runs `node node_modules/.bin/azurite-table` directly (killing `npx` would leave node listening),
with its data in a temporary folder removed at stop, and a throw-away account key made at start so no key
lives in the repository.
"""
from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "argoboot"


class AzuriteNotInstalled(RuntimeError):
    """node_modules has no Azurite: run `npm ci` (the Quick start and .ci/run do)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Azurite:
    """One Azurite Table service; `connection_string` reaches it."""

    def __init__(self) -> None:
        self.port = 0
        self.key = base64.b64encode(secrets.token_bytes(32)).decode()
        self._process: subprocess.Popen[bytes] | None = None
        self._workspace: str | None = None

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={self.key};"
                f"TableEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};")

    def start(self, timeout: float = 30.0) -> Azurite:
        script = ROOT / "node_modules" / "azurite" / "dist" / "src" / "table" / "main.js"
        node = shutil.which("node")
        if not script.exists() or node is None:
            raise AzuriteNotInstalled(f"{script} not found (or no node on PATH): run `npm ci` in {ROOT}")
        self.port = _free_port()
        self._workspace = tempfile.mkdtemp(prefix="azurite-")
        env = dict(os.environ, AZURITE_ACCOUNTS=f"{ACCOUNT}:{self.key}")
        self._process = subprocess.Popen(
            [node, str(script), "--tableHost", "127.0.0.1", "--tablePort", str(self.port),
             "--location", self._workspace, "--disableTelemetry", "--silent", "--skipApiVersionCheck"],
            env=env, cwd=self._workspace, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"Azurite exited at start: {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Azurite did not listen on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
        if self._workspace:
            shutil.rmtree(self._workspace, ignore_errors=True)
            self._workspace = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
