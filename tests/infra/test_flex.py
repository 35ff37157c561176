"""The function app asks ARM only for what the Flex Consumption plan supports.

Microsoft lists the site properties and app settings Flex Consumption deprecates ("Flex Consumption plan
deprecations" in learn.microsoft.com/azure/azure-functions/functions-app-settings); ARM refuses several of them on an
FC1 site (error 51021 for `siteConfig.linuxFxVersion`, `ftpsState`, `alwaysOn`, ...; which ones depends on the region,
so none may be sent). The official Flex azd templates set no `siteConfig` at all. The lists below are that table, with
the runtime-version properties of `siteConfig` the AVM site module had to drop for the same error.
"""
from __future__ import annotations

from typing import Any

from tests.infra.bicep import FUNCTION_APP, app_settings, one_resource

# Site properties (under `properties` or `properties.siteConfig`; ARM accepts both spellings) Flex does not support.
DEPRECATED_SITE_PROPERTIES = {
    "ftpsState": "FTPS not supported",
    "use32BitWorkerProcess": "32-bit not supported",
    "isReserved": "not valid", "IsXenon": "not valid", "windowsFxVersion": "not valid", "alwaysOn": "not valid",
    "preWarmedInstanceCount": "functionAppConfig.scaleAndConcurrency.alwaysReady",
    "functionAppScaleLimit": "functionAppConfig.scaleAndConcurrency.maximumInstanceCount",
    "functionsRuntimeScaleMonitoringEnabled": "Flex scales per function on its own",
    "containerSize": "functionAppConfig.scaleAndConcurrency.instanceMemoryMB",
    "javaVersion": "functionAppConfig.runtime", "powerShellVersion": "functionAppConfig.runtime",
    "netFrameworkVersion": "functionAppConfig.runtime", "linuxFxVersion": "functionAppConfig.runtime",
    "pythonVersion": "functionAppConfig.runtime", "nodeVersion": "functionAppConfig.runtime",
    "phpVersion": "functionAppConfig.runtime", "javaContainer": "functionAppConfig.runtime",
    "javaContainerVersion": "functionAppConfig.runtime",
}
DEPRECATED_APP_SETTINGS = {
    "WEBSITE_NODE_DEFAULT_VERSION", "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION", "FUNCTIONS_MAX_HTTP_CONCURRENCY", "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE",
    "WEBSITE_RUN_FROM_PACKAGE", "SCM_DO_BUILD_DURING_DEPLOYMENT", "ENABLE_ORYX_BUILD",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT", "WEBSITE_TIME_ZONE", "TZ", "WEBSITE_MOUNT_ENABLED",
    "WEBSITE_USE_PLACEHOLDER_DOTNETISOLATED", "WEBSITES_CONTAINER_START_TIME_LIMIT",
}
# What the site may set in siteConfig, each supported on Flex (the rest is in functionAppConfig).
SITE_CONFIG_KEPT = {"minTlsVersion", "http20Enabled", "appSettings"}


def _site() -> dict[str, Any]:
    site: dict[str, Any] = one_resource(FUNCTION_APP, "Microsoft.Web/sites")["config"]
    return site


def test_site_sets_no_property_flex_consumption_deprecates() -> None:
    properties = _site()["properties"]
    site_config = properties.get("siteConfig", {})
    deprecated = {name.lower(): name for name in DEPRECATED_SITE_PROPERTIES}
    sent = [f"properties.{k}" for k in properties if k.lower() in deprecated] + \
        [f"properties.siteConfig.{k}" for k in site_config if k.lower() in deprecated]
    assert sent == [], "Flex Consumption does not support (ARM may refuse the site): " + ", ".join(
        f"{path} ({DEPRECATED_SITE_PROPERTIES[deprecated[path.rsplit('.', 1)[1].lower()]]})" for path in sent)
    assert set(site_config) <= SITE_CONFIG_KEPT, f"siteConfig keys nobody checked against Flex: " \
        f"{sorted(set(site_config) - SITE_CONFIG_KEPT)}"
    assert properties["functionAppConfig"]["runtime"]["name"] == "python"
    assert "maximumInstanceCount" in properties["functionAppConfig"]["scaleAndConcurrency"]


def test_app_settings_hold_no_setting_flex_consumption_deprecates() -> None:
    names = {name.upper() for name in app_settings()}
    assert names & DEPRECATED_APP_SETTINGS == set(), "deprecated on Flex Consumption (functionAppConfig holds them)"
    assert "AzureWebJobsStorage__accountName" in app_settings()  # the host's storage: still required on Flex

