"""OpenTelemetry to Application Insights, on when APPLICATIONINSIGHTS_CONNECTION_STRING is set.

Every function entry point calls `start_telemetry()` first; the first call of an instance configures
the Azure Monitor distro (traces of the Azure SDK calls through azure-core, and the `argoboot` loggers'
records with their ids as custom dimensions), later calls cost a flag check. Ingestion signs in with Entra ID: the
exporter reads APPLICATIONINSIGHTS_AUTHENTICATION_STRING (hence the distro floor 1.6.11 in requirements.txt), as
Application Insights with local auth off requires. Never on the import path:
the distro loads the whole OpenTelemetry SDK, and indexing must stay fast and unable to fail on it.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

CONNECTION_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
LOGGER = "argoboot"

_started: bool | None = None  # None: not decided yet on this instance
_lock = threading.Lock()


def start_telemetry(env: Mapping[str, str] | None = None) -> bool:
    """Configure Azure Monitor once per instance if the connection string is set; True when telemetry is on."""
    global _started
    if _started is not None:
        return _started
    with _lock:
        if _started is None:
            connection = (os.environ if env is None else env).get(CONNECTION_SETTING)
            if connection:
                from azure.monitor.opentelemetry import configure_azure_monitor

                configure_azure_monitor(connection_string=connection, logger_name=LOGGER)
            _started = bool(connection)
    return _started


@contextmanager
def span(name: str, **attributes: str | None) -> Iterator[None]:
    """A span around one unit of work (the Azure SDK's own spans nest in it); nothing when telemetry is off."""
    if not _started:
        yield
        return
    from opentelemetry import trace

    with trace.get_tracer(LOGGER).start_as_current_span(
            name, attributes={key: value for key, value in attributes.items() if value}):
        yield
