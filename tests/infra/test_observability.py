"""Issue 24, rows 8-12 and 15: the status API accepts the tokens Entra issues for it, Event Grid reaches its webhook,
a broken event endpoint is seen within minutes, telemetry signs in with Entra ID, alerts reach someone, and the
services' logs land in the workspace."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.version import Version

from tests.infra.bicep import CLUSTER_EVENTS, INFRA, MAIN, ROOT, one_resource, parse, resources_of_type, sweep_window
from tests.infra.test_hooks import run_hook

STATUS_AUTH = INFRA / "modules" / "status-auth.bicep"
CREATE_APP = INFRA / "scripts" / "create-status-api-app.sh"
ALERTS = INFRA / "modules" / "alerts.bicep"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
LOGIN = "https://login.microsoftonline.com/"  # environment().authentication.loginEndpoint in the public cloud
CLIENT_ID = "3c1e8e9a-0000-4000-8000-0000000000c1"


def _issued_token_version(tmp_path: Path) -> int:
    """Run create-status-api-app.sh against the stand-in az: the access token version the registration ends with
    (Entra issues v1 tokens unless api.requestedAccessTokenVersion is 2)."""
    run = run_hook(tmp_path, CREATE_APP, [{"match": ["ad app create"], "answers": [{"stdout": f"{CLIENT_ID}\n"}]},
                                           {"match": ["ad sp create"], "answers": [{"stdout": "sp-object-id\n"}]}],
                   shell="bash")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == CLIENT_ID
    updates = [" ".join(c) for c in run.az("ad", "app", "update")]
    return 2 if any("api.requestedAccessTokenVersion=2" in u for u in updates) else 1


def _token(version: int) -> dict[str, str]:
    """The issuer and audience of an access token Entra issues for the status API (Microsoft identity platform,
    access token claims: v1 iss https://sts.windows.net/<tenant>/ and aud as requested; v2 iss <login>/<tenant>/v2.0
    and aud the client id)."""
    if version == 1:
        return {"iss": f"https://sts.windows.net/{TENANT}/", "aud": f"api://{CLIENT_ID}"}
    return {"iss": f"{LOGIN}{TENANT}/v2.0", "aud": CLIENT_ID}


def _accepted(claims: dict[str, str]) -> bool:
    """What status-auth.bicep's authsettingsV2 validates: the issuer (openIdIssuer) and the audience."""
    entra = one_resource(STATUS_AUTH, "Microsoft.Web/sites/config")["config"]["properties"]["identityProviders"][
        "azureActiveDirectory"]
    issuer = entra["registration"]["openIdIssuer"].replace("${environment().authentication.loginEndpoint}", LOGIN) \
        .replace("${tenant().tenantId}", TENANT)
    # pycep gives the bare parameter `clientId` as its name and interpolations as written.
    audiences = [CLIENT_ID if a == "clientId" else a.replace("${clientId}", CLIENT_ID)
                 for a in entra["validation"]["allowedAudiences"]]
    return claims["iss"] == issuer and claims["aud"] in audiences


def test_the_status_api_accepts_the_tokens_its_registration_issues(tmp_path: Path) -> None:
    """Row 8: the registration issues v2 tokens, and v2 is what the validation accepts; a v1 token (what a
    registration left at its default issues) is refused, which is why the script asks for v2."""
    version = _issued_token_version(tmp_path)
    assert version == 2
    assert _accepted(_token(2))
    assert not _accepted(_token(1))


def test_event_grid_deliveries_are_excluded_from_entra_authentication_as_event_grid_spells_the_path() -> None:
    """Row 9: Event Grid calls /runtime/webhooks/EventGrid?functionName=... (Microsoft's Event Grid trigger docs)."""
    validation = one_resource(STATUS_AUTH, "Microsoft.Web/sites/config")["config"]["properties"]["globalValidation"]
    assert "/runtime/webhooks/EventGrid" in validation["excludedPaths"]
    assert all(p.lower() == "/runtime/webhooks/eventgrid" for p in validation["excludedPaths"])


def test_failed_deliveries_and_dropped_events_alert_within_minutes() -> None:
    """Row 10: besides dead letters (a day late), failed delivery attempts and dropped events, each its own alert
    (one alert's criteria must all hold), evaluated every 5 minutes."""
    alerts = {a["metric"]: a for a in parse(CLUSTER_EVENTS)["variables"]["deliveryAlerts"]["value"]}
    assert set(alerts) == {"DeadLetteredCount", "DeliveryAttemptFailCount", "DroppedEventCount"}
    for metric in ("DeliveryAttemptFailCount", "DroppedEventCount"):
        assert (alerts[metric]["frequency"], alerts[metric]["window"]) == ("PT5M", "PT15M")
    resource = parse(CLUSTER_EVENTS)["resources"]["deliveryAlert"]["config"]
    assert resource["loop_type"]["detail"]["array_name"] == "deliveryAlerts"
    (criterion,) = resource["config"]["properties"]["criteria"]["allOf"]
    assert (criterion["operator"], criterion["threshold"], criterion["timeAggregation"]) == ("GreaterThan", 0, "Total")


def _floor(requirements: str, name: str) -> Version:
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and Requirement(line).name == name:
            (floor,) = [Version(s.version) for s in Requirement(line).specifier if s.operator == ">="]
            return floor
    raise AssertionError(f"{name} is not in requirements.txt")


def test_telemetry_needs_an_exporter_that_signs_in_with_entra_id() -> None:
    """Row 11: azure-monitor-opentelemetry 1.6.11 is the first release whose exporter requirement (~=1.0.0b40) reads
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING (exporter 1.0.0b36 and later); 1.6.0 - 1.6.10 admit 1.0.0b26 - b31
    (their wheels' Requires-Dist), which send with no credential and are refused where local auth is off."""
    assert _floor((ROOT / "requirements.txt").read_text(), "azure-monitor-opentelemetry") >= Version("1.6.11")
    from importlib.metadata import version

    assert Version(version("azure-monitor-opentelemetry-exporter")) >= Version("1.0.0b36")


_PROBE = """
import gc, os
from shared import telemetry
assert telemetry.start_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": os.environ["CONNECTION"]})
from azure.identity import ManagedIdentityCredential
from azure.monitor.opentelemetry.exporter.export._base import BaseExporter
exporters = [o for o in gc.get_objects() if isinstance(o, BaseExporter)]
print(sorted({(type(o).__name__, type(o._credential).__name__) for o in exporters}))
"""


def test_the_exporters_sign_in_with_the_apps_identity() -> None:
    """Row 11 at run time: with the app setting functionapp.bicep gives, every exporter holds a managed identity
    credential (None would send unauthenticated, which an Application Insights with local auth off refuses)."""
    settings = parse(INFRA / "modules" / "functionapp.bicep")["variables"]["appSettings"]["value"]
    auth = settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].replace("${identityClientId}", "c1")
    env = {"PATH": "/usr/bin:/bin", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": auth,
           "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", "OTEL_TRACES_SAMPLER": "always_off",
           "CONNECTION": "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"}
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    found = ast.literal_eval(out.stdout.strip().splitlines()[-1])  # (exporter, credential) name pairs
    assert {e for e, _ in found} >= {"AzureMonitorTraceExporter", "AzureMonitorLogExporter"}, found
    assert {c for _, c in found} == {"ManagedIdentityCredential"}, found


def test_alerts_use_the_stable_api_valid_windows_and_reach_someone() -> None:
    """Row 12: scheduledQueryRules 2023-12-01 (GA), a window Azure Monitor offers for every allowed sweep interval, and
    an action group: an existing one, or one created for ARGOBOOT_ALERT_EMAIL."""
    (rule,) = resources_of_type(ALERTS, "Microsoft.Insights/scheduledQueryRules")
    assert rule["api_version"] == "2023-12-01"
    offered = {"PT15M", "PT30M", "PT45M", "PT1H", "PT2H", "PT3H", "PT4H", "PT5H", "PT6H", "P1D", "P2D"}
    minimum = parse(ALERTS)["parameters"]["sweepIntervalMinutes"]
    low = next(d["argument"] for d in minimum["decorators"] if d["type"] == "min_value")
    high = next(d["argument"] for d in minimum["decorators"] if d["type"] == "max_value")
    for interval in range(low, high + 1):
        window = sweep_window(interval)
        assert window in offered, (interval, window)
        minutes = {"M": 1, "H": 60, "D": 1440}[window[-1]] * int(re.sub(r"\D", "", window))
        assert minutes >= 2 * interval, (interval, window)
    group = one_resource(ALERTS, "Microsoft.Insights/actionGroups")["config"]
    assert group["config"]["properties"]["emailReceivers"][0]["emailAddress"] == "alertEmail"
    assert "var notify = !empty(actionGroupId) ? actionGroupId : (empty(alertEmail) ? '' : emailGroup.id)" in \
        ALERTS.read_text()
    main = parse(MAIN)
    assert main["modules"]["alerts"]["config"]["params"]["alertEmail"] == "alertEmail"
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert given["alertEmail"]["value"] == "${ARGOBOOT_ALERT_EMAIL=}"
    # The event alerts (main.bicep and the hooks, through ALERT_ACTION_GROUP_ID) notify the same group.
    assert "output ALERT_ACTION_GROUP_ID string = alerts.outputs.actionGroupId" in MAIN.read_text()


def _diagnostics(path: Path) -> dict[str, Any]:
    return {name: r for name, r in parse(path)["resources"].items()
            if r["type"] == "Microsoft.Insights/diagnosticSettings"}


def test_the_workspace_takes_no_shared_keys_and_the_services_send_it_their_logs() -> None:
    """Row 15: Log Analytics with local auth off; diagnostic settings on Service Bus, the blob and table services and
    the service's own system topic (not a reused one: its settings are its owner's)."""
    workspace = one_resource(INFRA / "modules" / "monitoring.bicep", "Microsoft.OperationalInsights/workspaces")
    assert workspace["config"]["properties"]["features"]["disableLocalAuth"] is True
    servicebus = _diagnostics(INFRA / "modules" / "servicebus.bicep")
    storage = _diagnostics(INFRA / "modules" / "storage.bicep")
    topic = _diagnostics(CLUSTER_EVENTS)
    assert [r["config"]["scope"] for r in servicebus.values()] == ["namespace"]
    assert sorted(r["config"]["scope"] for r in storage.values()) == ["blobs", "tables"]
    (topic_settings,) = topic.values()
    assert topic_settings["config"]["config"]["scope"] == "topic"
    assert "!reuseExistingTopic" in CLUSTER_EVENTS.read_text().split("resource topicDiagnostics", 1)[1].split("\n")[0]
    for resource in [*servicebus.values(), *storage.values(), topic_settings]:
        config = resource["config"].get("config", resource["config"])
        assert config["properties"]["workspaceId"] == "logAnalyticsWorkspaceId"
        assert config["properties"]["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]
    for module in ("serviceBus", "storage", "clusterEvents"):
        params = parse(MAIN)["modules"][module]["config"]
        params = params.get("config", params)["params"]
        assert "workspaceId" in json.dumps(params["logAnalyticsWorkspaceId"]), module
