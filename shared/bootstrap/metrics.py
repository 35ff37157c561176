"""The profile's `metrics` switch: Argo CD's Prometheus metrics, and Azure Managed Prometheus scraping them.

`metrics: on` turns on the metrics endpoints of the application controller, the API server, the repo server and the
ApplicationSet controller; `metrics: azureManagedPrometheus` also renders a ServiceMonitor for each, in the API group
Azure Managed Prometheus reads (`apiVersionOverrides.monitoring=azmonitoring.coreos.com/v1`), the keys Microsoft's
Argo CD extension manage page (2026) and learn.microsoft.com/azure/azure-monitor/containers/
prometheus-argo-cd-integration use. Absent or `off`: no metrics keys are sent (the chart's defaults).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from shared.bootstrap.chart_keys import helm_path, reaches
from shared.errors import ProfileError

Metrics = Literal["off", "on", "azureManagedPrometheus"]
COMPONENTS = ("controller", "server", "repoServer", "applicationSet")
MONITORING_API = "azmonitoring.coreos.com/v1"  # Azure Managed Prometheus' copy of the ServiceMonitor CRD
_RENDERED = [*(helm_path(f"{c}.metrics") for c in COMPONENTS), helm_path("apiVersionOverrides.monitoring")]


def parse_metrics(value: Any, source: str) -> Metrics:
    if value is None:
        return "off"
    if value is False or value is True:  # YAML reads a bare on/off as a boolean
        return "on" if value else "off"
    if value not in ("off", "on", "azureManagedPrometheus"):
        raise ProfileError(source, "metrics", f"{value!r} is not off, on (Argo CD's metrics endpoints) or "
                           "azureManagedPrometheus (the endpoints and a ServiceMonitor for each, scraped by Azure "
                           "Managed Prometheus)")
    return cast(Metrics, value)


def metrics_settings(metrics: Metrics) -> dict[str, str]:
    """The chart keys for the switch."""
    if metrics == "off":
        return {}
    settings = {f"{c}.metrics.enabled": "true" for c in COMPONENTS}
    if metrics == "azureManagedPrometheus":
        settings.update({f"{c}.metrics.serviceMonitor.enabled": "true" for c in COMPONENTS})
        settings["apiVersionOverrides.monitoring"] = MONITORING_API
    return settings


def check_metrics_helm_values(helm_values: Mapping[str, str], metrics: Metrics, source: str) -> None:
    """Refuse helmValues keys that a profile's `metrics` switch renders (one owner per value)."""
    if metrics == "off":
        return
    for key in helm_values:
        if any(reaches(helm_path(key), rendered) for rendered in _RENDERED):
            raise ProfileError(source, f"helmValues.{key}", "is rendered by the service from metrics; set it there")
