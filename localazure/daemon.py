"""Finding, starting and stopping the long-lived local Azure (`python -m localazure.serve`), and talking to it.

The `argoboot` CLI calls this for `--emulator`: the first command starts the local Azure detached,
later ones reuse it. It describes itself in a state file (ports, CA path, token endpoint, Azurite
connection string, a control token) in a directory only this user can read, so the file is 0600
and never lives in the repository. The control endpoint covers what has no Azure equivalent here:
posting to the local queue, adding demo clusters, reading the emulator's request log.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shared.azure.outbox import OutgoingMessage

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR_ENV = "ARGOBOOT_STATE_DIR"
STATE_FILE = "localazure.json"
LOG_FILE = "localazure.log"
TOKEN_HEADER = "x-control-token"
DEFAULT_SPEED = 40.0  # Azure's minutes in seconds: a 120 s extension install takes 3 s


class LocalAzureUnavailable(RuntimeError):
    """The local Azure is not running, could not start, or did not answer; the message says which."""


class ControlError(RuntimeError):
    """The control endpoint refused a call (`status` is its HTTP status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DaemonState:
    """What a running local Azure wrote about itself; `settings` are the app settings pointing at it."""

    pid: int
    control_url: str
    token: str
    log: str
    speed: float
    subscription: str
    settings: dict[str, str]
    providers: str = "fresh"  # the provider states the subscription started with (serve --providers)

    def public(self) -> dict[str, Any]:
        """The parts worth showing a person (no token, no account key)."""
        return {"pid": self.pid, "armEndpoint": self.settings.get("ARM_ENDPOINT"), "control": self.control_url,
                "speed": self.speed, "subscription": self.subscription, "providers": self.providers, "log": self.log,
                "caBundle": self.settings.get("ARM_CA_BUNDLE")}


def state_dir() -> Path:
    """$ARGOBOOT_STATE_DIR, else a per-user directory under $XDG_RUNTIME_DIR or the temp dir; refused if others
    can read it (the state file holds a storage key and the control token)."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        path = Path(configured)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "argoboot"
    else:
        path = Path(tempfile.gettempdir()) / f"argoboot-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise LocalAzureUnavailable(f"{path} must belong to you and be private (chmod 700); not using it")
    return path


def write_state(directory: Path, state: DaemonState) -> None:
    """Atomically, readable by the owner only."""
    tmp = directory / f".{STATE_FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(state), f)
    os.replace(tmp, directory / STATE_FILE)


def remove_state(directory: Path, pid: int) -> None:
    """Remove the state file if it still describes process `pid` (a newer daemon may have replaced it)."""
    state = _load(directory)
    if state is not None and state.pid == pid:
        (directory / STATE_FILE).unlink(missing_ok=True)


def _load(directory: Path) -> DaemonState | None:
    try:
        return DaemonState(**json.loads((directory / STATE_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


class Control:
    """Calls to the control endpoint of one running local Azure."""

    def __init__(self, state: DaemonState) -> None:
        self.state = state

    def call(self, method: str, path: str, body: Any = None, *, timeout: float = 30.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.state.control_url + path, data=data, method=method,
                                         headers={TOKEN_HEADER: self.state.token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {exc.code}"
            raise ControlError(exc.code, message) from None
        except (urllib.error.URLError, OSError) as exc:
            raise LocalAzureUnavailable(f"the local Azure at {self.state.control_url} did not answer ({exc}); "
                                        "`argoboot emulator stop`, then try again") from None
        return json.loads(raw) if raw else None


def find(directory: Path | None = None) -> DaemonState | None:
    """The running local Azure, or None (no state file, or a stale one whose process does not answer)."""
    state = _load(directory or state_dir())
    if state is None:
        return None
    try:
        Control(state).call("GET", "/health", timeout=2.0)
    except (LocalAzureUnavailable, ControlError):
        return None
    return state


@contextlib.contextmanager
def _start_lock(directory: Path) -> Iterator[None]:
    """Two commands started at once must not start two local Azures."""
    with open(directory / ".start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_running(speed: float = DEFAULT_SPEED, timeout: float = 90.0,
                   providers: str = "fresh") -> tuple[DaemonState, bool]:
    """The running local Azure, started (detached) if there is none; True when this call started it.
    `providers`: the subscription's provider states if it is started now (`fresh` or `registered`)."""
    directory = state_dir()
    with _start_lock(directory):
        running = find(directory)
        if running is not None:
            return running, False
        return _start(directory, speed, timeout, providers), True


def _start(directory: Path, speed: float, timeout: float, providers: str) -> DaemonState:
    (directory / STATE_FILE).unlink(missing_ok=True)
    log_path = directory / LOG_FILE
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "localazure.serve", "--state-dir", str(directory), "--speed", str(speed),
             "--providers", providers],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-8:])
            raise LocalAzureUnavailable(f"the local Azure exited at start (code {process.returncode}):\n{tail}")
        state = _load(directory)
        if state is not None and state.pid == process.pid and find(directory) is not None:
            return state
        time.sleep(0.1)
    _terminate(process.pid)
    raise LocalAzureUnavailable(f"the local Azure did not come up within {timeout:.0f}s; see {log_path}")


def stop(timeout: float = 20.0) -> DaemonState | None:
    """Stop the running local Azure (it stops Azurite and removes its state file); None if none was running."""
    directory = state_dir()
    state = find(directory)
    if state is None:
        (directory / STATE_FILE).unlink(missing_ok=True)  # stale
        return None
    with contextlib.suppress(LocalAzureUnavailable, ControlError):  # it may hang up while shutting down
        Control(state).call("POST", "/shutdown", timeout=5.0)
    if not _wait_gone(state.pid, timeout):
        _terminate(state.pid)
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child, now reaped
            return False
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _terminate(pid: int) -> None:
    """Last resort: SIGTERM the local Azure's process group (it leads its own session, Azurite included)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
    _wait_gone(pid, 10.0)


class QueueOutbox:
    """The service's `Outbox`, sending to the local bus through the control endpoint (what `argoboot submit` uses)."""

    def __init__(self, state: DaemonState) -> None:
        self._control = Control(state)

    def send(self, message: OutgoingMessage) -> None:
        if message.scheduled_at is not None:
            raise ValueError("the control endpoint sends now; it does not schedule")
        self._control.call("POST", f"/queues/{message.queue}/messages", {
            "body": message.body.decode(), "messageId": message.message_id, "sessionId": message.session_id,
            "replyTo": message.reply_to, "correlationId": message.correlation_id})
