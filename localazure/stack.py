"""The whole local Azure in one context manager: ARM emulator, token endpoint, Key Vault, Azurite, Service Bus
stand-in.

The demo, the tests and the benchmarks use it. It sets the same app settings the service reads in
Azure (pointed at the emulators), builds the service's parts with the local bus and the shared
virtual clock, and lets callers deliver events and drain the queue through the real function entry points.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Literal

from localazure.arm.emulator import ArmEmulator
from localazure.azurite import Azurite
from localazure.bus import LocalBus
from localazure.clock import VirtualClock
from localazure.contract import MessageContract
from localazure.functions_host import FunctionsHost
from localazure.keyvault import LocalKeyVault

QUEUE = "install-requests"  # the public request queue: what other teams send to
WORK = "argoboot-work"  # the internal work queue: only the app sends to it
REPLIES = "replies"  # a reply queue that exists and replies may go to, for the tests, the demo and the CLI's --reply-to
SESSION_REPLIES = "session-replies"  # a session-enabled reply queue, also allowed
SUBSCRIPTION = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
OTHER_SUBSCRIPTION = "0d9e4b7a-53c1-4f0e-8e2b-7c6a5d4f3e21"


class LocalAzure:
    """Start with `with LocalAzure() as az:`; `az.arm`, `az.bus`, `az.clock`, `az.host` are the parts.

    On a clean exit it raises `ContractViolation` if any message on the bus broke the published schemas.
    """

    def __init__(self, *, azurite: Azurite | None = None, settings: Mapping[str, str] | None = None,
                 allowed_subscriptions: tuple[str, ...] = (SUBSCRIPTION,),
                 clock: Callable[[], float] | None = None, provider_states: Mapping[str, str] | None = None) -> None:
        """`clock`: the shared virtual clock by default; a real one (time.time) for the long-lived local Azure.
        `provider_states`: each subscription's at start (default: a fresh subscription's; `{}`: all Registered)."""
        self.clock: Callable[[], float] = clock or VirtualClock()
        self.arm = ArmEmulator(clock=self.clock, provider_states=provider_states)
        for subscription in allowed_subscriptions:
            self.arm.add_subscription(subscription)
        self.keyvault = LocalKeyVault(self.arm, self.clock)
        self.contract = MessageContract((QUEUE, WORK))
        advance = self.clock.advance_to if isinstance(self.clock, VirtualClock) else None
        self.bus = LocalBus(self.clock, advance=advance, observer=self.contract)
        self._own_azurite = azurite is None
        self.azurite = azurite or Azurite()
        self._extra = dict(settings or {})
        self._allowed = allowed_subscriptions
        self._saved_env: dict[str, str | None] = {}
        self.app_settings: dict[str, str] = {}  # what the service was given, once started
        self.host: FunctionsHost | None = None

    def environ(self) -> dict[str, str]:
        """The app settings the service reads, pointed at the local parts."""
        return {
            **self.arm.environ(),
            **self.keyvault.environ(),
            "INSTALL_QUEUE_NAME": QUEUE,
            "WORK_QUEUE_NAME": WORK,
            "ALLOWED_REPLY_ENTITIES": f"{REPLIES},{SESSION_REPLIES}",
            "ALLOWED_SUBSCRIPTIONS": ",".join(self._allowed),
            "LEDGER_CONNECTION_STRING": self.azurite.connection_string,
            "LEDGER_TABLE_PREFIX": "t" + secrets.token_hex(6),
            "ARM_RETRY_BACKOFF_SECONDS": "0.01",  # azure-core's retries, without real seconds of backoff
            # A handler's sleep would not move the virtual clock: every pacing wait becomes a continuation.
            "ARM_PACE_MAX_SLEEP_SECONDS": "0",
            "SWEEP_SCHEDULE": "0 */30 * * * *",
            **self._extra,
        }

    def __enter__(self) -> LocalAzure:
        from handlers.settlement import use_settler
        from shared.services import build_services, install
        from shared.settings import Settings

        self.arm.start()
        self.keyvault.start()
        if self._own_azurite:
            self.azurite.start()
        for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "MSI_ENDPOINT",
                     "APPLICATIONINSIGHTS_CONNECTION_STRING"):
            self._saved_env.setdefault(name, os.environ.pop(name, None))
        self.app_settings = self.environ()
        for name, value in self.app_settings.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        self.bus.create_queue(QUEUE, requires_session=True)
        self.bus.create_queue(WORK, requires_session=True)
        self.bus.create_queue(REPLIES)
        self.bus.create_queue(SESSION_REPLIES, requires_session=True)
        self.services = build_services(Settings.from_env(), outbox=self.app_sender(), clock=self.clock)
        self.outside = self.bus.sender("team-a", [QUEUE])  # another team: Data Sender on the request queue only
        install(self.services)
        use_settler(self.bus.settler())
        import function_app

        self.host = _host_for(function_app.app)
        return self

    def __exit__(self, *exc: object) -> None:
        from handlers.settlement import use_settler
        from shared.services import install

        install(None)
        use_settler(None)
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.keyvault.stop()
        self.arm.stop()
        if self._own_azurite:
            self.azurite.stop()
        if exc[0] is None:
            self.contract.assert_clean()  # every reply sent and every request accepted matched schemas/
            self.bus.assert_settled_once()  # every delivery completed, dead-lettered or abandoned, once

    def reconfigure(self, **changes: Any) -> None:
        """Rebuild the service's parts with some settings changed (e.g. max_wait_polls=3); profiles are reloaded."""
        from dataclasses import replace

        from shared.services import build_services, install

        ledger = None if "ledger_table_prefix" in changes else self.services.ledger  # a new prefix: new tables
        settings = replace(self.services.settings, **changes)
        self.services = build_services(settings, outbox=self.app_sender(settings.reply_entities), ledger=ledger,
                                       clock=self.clock)
        install(self.services)

    def app_sender(self, reply_entities: tuple[str, ...] | None = None) -> Any:
        """The app's identity on the bus: Data Sender on the work queue and the reply entities only (as
        infra/modules/servicebus.bicep grants it), never on the request queue or the rest of the namespace."""
        allowed = self.app_settings.get("ALLOWED_REPLY_ENTITIES", "").split(",") if reply_entities is None \
            else list(reply_entities)
        return self.bus.sender("argoboot-app", [WORK, *(e for e in allowed if e and "*" not in e)])

    def deliver_event(self, event: dict[str, Any]) -> Any:
        assert self.host is not None
        return self.host.deliver_event(event)

    def http(self, method: str, path: str, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None, *, key: Literal["function", "master"] | None = "function") -> Any:
        """Call the app's HTTP functions by URL path (e.g. `/api/clusters`), as the host routes them, with the host's
        function key (`key="master"`: its master key; None: no key)."""
        assert self.host is not None
        keyed = headers if key is None else {"x-functions-key": self.host.keys[key], **(headers or {})}
        return self.host.http(method, path, params, keyed)

    def functions(self) -> dict[str, Callable[[Any], None]]:
        """The queue functions by queue, as the host listens: the request queue's intake, then the work queue's."""
        assert self.host is not None
        return {QUEUE: self.host.functions["install_requests"].get_user_function(),
                WORK: self.host.functions["work_items"].get_user_function()}

    def drain(self, *, workers: int = 1, max_deliveries: int = 10_000, until: float | None = None) -> int:
        """Run both queue functions until no message is left (scheduled ones included, by moving the clock), or,
        with `until`, until none is due by then."""
        return self.bus.run_all_until_idle(self.functions(), workers=workers, max_deliveries=max_deliveries,
                                           until=until)

    def deliver_one(self) -> bool:
        """Deliver one message that is due now (a request waiting at the intake first; the clock does not move)."""
        return any(self.bus.deliver_one(queue, function) for queue, function in self.functions().items())


_hosts: dict[int, FunctionsHost] = {}


def _host_for(app: Any) -> FunctionsHost:
    # app.get_functions() raises when called twice on one app: index each app once per process.
    if id(app) not in _hosts:
        _hosts[id(app)] = FunctionsHost(app)
    return _hosts[id(app)]
