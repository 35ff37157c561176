"""The local Azure as a long-lived process, for the `argoboot` CLI's `--emulator` (`python -m localazure.serve`).

Started detached by `localazure.daemon.ensure_running`. Runs the ARM emulator with its token
endpoint, Azurite and the Service Bus stand-in on real time, with Azure's own durations divided by
`--speed` (a 120 s extension install takes 3 s at 40), and plays the Functions host: queue workers
deliver messages to the function app's real `install_requests` entry point as they come due.
Writes the private state file once ready; SIGTERM or the control endpoint's /shutdown stops it all.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import threading
import time
from pathlib import Path

from localazure.arm.emulator import ArmEmulator
from localazure.arm.server import Server
from localazure.arm.subscriptions import PROVIDER_PRESETS
from localazure.control import ControlApp
from localazure.daemon import DEFAULT_SPEED, LOG_FILE, DaemonState, remove_state, write_state
from localazure.stack import SUBSCRIPTION, LocalAzure

log = logging.getLogger("localazure.serve")
WORKERS = 4
# The service's poll intervals at Azure speed (its defaults), divided by the speed like Azure's durations.
POLL_SETTINGS = {"PROVIDER_POLL_SECONDS": 20.0, "CLUSTER_POLL_SECONDS": 60.0, "EXTENSION_POLL_SECONDS": 15.0}


def scale_timings(arm: ArmEmulator, speed: float) -> None:
    """Azure's slow parts `speed` times faster, on the real clock; throttling buckets refill as fast."""
    arm.provider_registration_seconds /= speed
    arm.extension_install_seconds /= speed
    arm.extension_update_seconds /= speed
    arm.extension_delete_seconds /= speed
    arm.time_scale = speed


class QueueWorkers:
    """The Functions host's queue listeners: deliver each due message to its queue's function (the request queue's
    intake, the work queue's reconcile), one per session at a time."""

    def __init__(self, az: LocalAzure, stop: threading.Event, count: int = WORKERS) -> None:
        assert az.host is not None
        self._az = az
        self._stop = stop
        self._threads = [threading.Thread(target=self._work, name=f"queue-worker-{i}", daemon=True)
                         for i in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self._az.deliver_one()
            except Exception:  # the function's own failures are the bus's to handle; this is the stand-in failing
                log.exception("the local bus failed to deliver a message; this worker carries on")
                delivered = False
            if not delivered:
                self._stop.wait(0.05)


def serve(state_dir: Path, speed: float, providers: str) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    settings = {name: f"{seconds / speed:g}" for name, seconds in POLL_SETTINGS.items()}
    with LocalAzure(clock=time.time, settings=settings, provider_states=PROVIDER_PRESETS[providers]) as az:
        scale_timings(az.arm, speed)
        token = secrets.token_urlsafe(32)
        control = Server(ControlApp(az, token, stop, speed))
        control.start()
        workers = QueueWorkers(az, stop)
        workers.start()
        state = DaemonState(pid=os.getpid(), control_url=f"http://127.0.0.1:{control.port}", token=token,
                            log=str(state_dir / LOG_FILE), speed=speed, subscription=SUBSCRIPTION,
                            settings=az.app_settings, providers=providers)
        write_state(state_dir, state)
        log.info("local Azure ready: ARM %s, control %s, speed x%g", az.arm.url, state.control_url, speed)
        try:
            while not stop.wait(1.0):
                pass
        finally:
            log.info("stopping")
            remove_state(state_dir, state.pid)
            control.stop()
            workers.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True, help="private directory for the state file")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="how much faster than Azure time runs")
    parser.add_argument("--providers", choices=sorted(PROVIDER_PRESETS), default="fresh",
                        help="the subscription's provider states at start (fresh: the Kubernetes ones NotRegistered)")
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    serve(args.state_dir, args.speed, args.providers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
