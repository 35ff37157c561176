"""Test-only crash injection: the handler's process dies between two steps, and a new one takes over.

`CrashPlan` counts every call the queue handler makes to the outside world (ARM, Graph, the ledger,
the bus) through `Counted` wrappers around the real objects, and raises `ProcessDied` just before
the call numbered `crash_before`, once. A wrapper only counts and maybe raises *before* the call:
the real call runs unchanged, with the same arguments, and its result or exception passes through.

`install_crash_plan` wraps the parts of the running services; `run_with_restarts` plays the Functions
host: the bus abandons the message on the exception (and redelivers it, as Service Bus does after a
lost lock), and the next delivery runs in a "new process": services rebuilt from the same settings,
so nothing survives in memory (provider cache, SDK clients), only Azure, the ledger and the queue.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from localazure.stack import WORK, LocalAzure
from shared.services import build_services, install


class ProcessDied(Exception):
    """The worker process died (raised where the crash plan says, never by the service)."""


@dataclass
class CrashPlan:
    """Counts calls; raises ProcessDied before call number `crash_before` (once); runs `hooks[name]` before the
    first call of that name (e.g. to change Azure's state at a precise step)."""

    crash_before: int | None = None
    calls: list[str] = field(default_factory=list)
    crashed_at: str | None = None
    hooks: dict[str, Callable[[], None]] = field(default_factory=dict)

    def before(self, name: str) -> None:
        if self.crashed_at is None and len(self.calls) == self.crash_before:
            self.crashed_at = f"#{self.crash_before} {name}"
            raise ProcessDied(f"the process died before call {self.crashed_at}")
        self.calls.append(name)
        hook = self.hooks.pop(name, None)
        if hook is not None:
            hook()


class Counted:
    """Every public method of `target`, announced to `plan` before it runs; nothing else changes."""

    def __init__(self, target: Any, plan: CrashPlan, label: str) -> None:
        self._target = target
        self._plan = plan
        self._label = label

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._plan.before(f"{self._label}.{name}")
            return attribute(*args, **kwargs)

        return call


class Failing:
    """`target` with some of its methods unreachable: they raise `error` instead of running (e.g. the ledger's
    storage account down); every other method is the real one."""

    def __init__(self, target: Any, error: Exception, methods: set[str]) -> None:
        self._target = target
        self._error = error
        self._methods = methods

    def __getattr__(self, name: str) -> Any:
        if name in self._methods:
            def unreachable(*args: Any, **kwargs: Any) -> Any:
                raise self._error
            return unreachable
        return getattr(self._target, name)


def install_crash_plan(az: LocalAzure, plan: CrashPlan) -> None:
    """Wrap the Azure gateways, the ledger and the outbox of the services `az` runs now."""
    processor = az.services.processor
    api = Counted(processor.reconciler.api, plan, "arm")
    directory = Counted(processor.reconciler.directory, plan, "graph")
    processor.reconciler.api = api
    processor.reconciler.directory = directory
    processor.reconciler.identities.api = api
    processor.reconciler.provider_steps.api = api
    processor.reconciler.identities.directory = directory
    processor.ledger = Counted(az.services.ledger, plan, "ledger")
    processor.outbox = Counted(az.services.outbox, plan, "bus")


def restart(az: LocalAzure, plan: CrashPlan) -> None:
    """A new worker process: services rebuilt from the same settings (new SDK clients, an empty provider cache),
    wrapped by the same plan."""
    az.services = build_services(az.services.settings, outbox=az.bus, ledger=az.services.ledger, clock=az.clock)
    install(az.services)
    install_crash_plan(az, plan)


def run_with_restarts(az: LocalAzure, plan: CrashPlan, *, workers: int = 1) -> int:
    """`az.drain()`, except that a process death restarts the services before the bus redelivers."""
    assert az.host is not None
    function: Callable[[Any], None] = az.host.functions["work_items"].get_user_function()

    def host(msg: Any) -> None:
        try:
            function(msg)
        except ProcessDied:
            restart(az, plan)
            raise

    return az.bus.run_all_until_idle({**az.functions(), WORK: host}, workers=workers)
