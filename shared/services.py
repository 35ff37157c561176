"""The composition root: builds the service's parts from app settings, once per instance, on first use.

Handlers call `services()`; nothing is built at import so indexing stays fast and a missing setting
fails the first invocation with a clear message instead of leaving the app with no functions.
The local Azure (`localazure`) calls `install()` to plug in its Service Bus stand-in and clock.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.azure.api import AzureApi, DirectoryApi, ResourceGraphApi, SecretsApi
from shared.azure.ledger import Ledger
from shared.azure.outbox import Outbox
from shared.azure.pacing import Pacer
from shared.azure.service_bus_outbox import ServiceBusOutbox
from shared.azure.table_ledger import TableLedger
from shared.bootstrap.hub_protection import HubProtection
from shared.bootstrap.poll_planner import PollPlanner
from shared.bootstrap.profiles import ProfileCatalog, ProfileError
from shared.bootstrap.providers import ProviderCache
from shared.bootstrap.reconciler import Reconciler
from shared.pipeline.intake import RequestIntake
from shared.pipeline.processing import RequestProcessor
from shared.pipeline.replies import Replier
from shared.pipeline.sweep import Sweeper
from shared.settings import Settings, SettingsError


@dataclass
class Services:
    """The parts every handler shares within one instance."""

    settings: Settings
    ledger: Ledger
    outbox: Outbox
    intake: RequestIntake
    processor: RequestProcessor
    sweeper: Sweeper
    clock: Callable[[], float]


_current: Services | None = None
_lock = threading.Lock()


def build_services(settings: Settings, *, outbox: Outbox | None = None, api: AzureApi | None = None,
                   directory: DirectoryApi | None = None, ledger: Ledger | None = None,
                   secrets: SecretsApi | None = None, clock: Callable[[], float] = time.time,
                   credential: Any = None, graph: ResourceGraphApi | None = None) -> Services:
    """Wire the parts; anything not given is built for Azure from the settings (Resource Graph, the sweep's view,
    only with the ARM gateway: given an `api`, the sweep reads it alone). Invalid profiles fail here, at the first
    invocation, with the file and key named."""
    try:
        profiles = ProfileCatalog.load(settings.profiles_dir, settings.default_profile, settings.key_vault_dns_suffix)
    except ProfileError as exc:
        raise SettingsError(f"profiles: {exc}") from None
    if credential is None and any(part is None for part in (api, directory, ledger, outbox, secrets)):
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    pacer = Pacer(settings.arm_pacing, clock=clock, max_sleep=settings.arm_pace_max_sleep)
    if api is None:
        from shared.azure.arm_gateway import ArmGateway
        from shared.azure.resource_graph import ResourceGraphGateway

        api = ArmGateway(credential, endpoint=settings.arm_endpoint, ca_bundle=settings.arm_ca_bundle,
                         retry_backoff=settings.arm_retry_backoff, pacer=pacer)
        graph = graph or ResourceGraphGateway(credential, endpoint=settings.arm_endpoint,
                                              ca_bundle=settings.arm_ca_bundle,
                                              retry_backoff=settings.arm_retry_backoff)
    if directory is None:
        from shared.azure.graph_gateway import GraphGateway

        directory = GraphGateway(credential, endpoint=settings.graph_endpoint, ca_bundle=settings.arm_ca_bundle,
                                 retry_backoff=settings.arm_retry_backoff)
    if secrets is None:
        from shared.azure.keyvault_gateway import KeyVaultGateway

        secrets = KeyVaultGateway(credential, ca_bundle=settings.arm_ca_bundle,
                                  retry_backoff=settings.arm_retry_backoff)
    if ledger is None:
        ledger = TableLedger(connection_string=settings.ledger_connection_string,
                             endpoint=settings.ledger_table_endpoint, prefix=settings.ledger_table_prefix,
                             credential=credential)
    if outbox is None:
        if not settings.servicebus_namespace:
            raise SettingsError("app setting ServiceBusConnection__fullyQualifiedNamespace is empty")
        outbox = ServiceBusOutbox(settings.servicebus_namespace, credential)
    reconciler = Reconciler(api=api, directory=directory, settings=settings,
                            providers=ProviderCache(clock=clock, ttl=settings.provider_cache_seconds,
                                                    poll_cap=settings.provider_poll_seconds),
                            secrets=secrets, batches=ledger, hub_protection=HubProtection(ledger, profiles, secrets))
    planner = PollPlanner(settings=settings, clock=clock, headroom=pacer.headroom)
    replier = Replier(settings=settings, ledger=ledger, outbox=outbox, clock=clock)
    intake = RequestIntake(settings=settings, outbox=outbox, replier=replier, profiles=profiles)
    processor = RequestProcessor(settings=settings, ledger=ledger, outbox=outbox, reconciler=reconciler,
                                 profiles=profiles, clock=clock, planner=planner, replier=replier)
    sweeper = Sweeper(api=api, ledger=ledger, outbox=outbox, settings=settings, profiles=profiles, clock=clock,
                      secrets=secrets, graph=graph)
    return Services(settings=settings, ledger=ledger, outbox=outbox, intake=intake, processor=processor,
                    sweeper=sweeper,
                    clock=clock)


def services() -> Services:
    """This instance's services, built from the environment on first call."""
    global _current
    with _lock:
        if _current is None:
            _current = build_services(Settings.from_env())
        return _current


def install(replacement: Services | None) -> None:
    """Use these services from now on (None: rebuild from the environment on next use)."""
    global _current
    with _lock:
        _current = replacement
