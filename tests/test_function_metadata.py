"""Contract: the functions as the Functions host will index them (names, triggers, settings they read)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from localazure.stack import _host_for

ROOT = Path(__file__).resolve().parent.parent


def test_functions_index_with_the_bindings_the_host_reads() -> None:
    import function_app

    functions = _host_for(function_app.app).functions
    bindings = {name: json.loads(f.get_function_json())["bindings"] for name, f in functions.items()}
    assert bindings == {
        "cluster_events": [{"direction": "IN", "type": "eventGridTrigger", "name": "event"}],
        "install_requests": [{"direction": "IN", "type": "serviceBusTrigger", "name": "msg",
                              "connection": "ServiceBusConnection", "queueName": "%INSTALL_QUEUE_NAME%",
                              "isSessionsEnabled": True, "autoCompleteMessages": False}],
        "work_items": [{"direction": "IN", "type": "serviceBusTrigger", "name": "msg",
                        "connection": "ServiceBusConnection", "queueName": "%WORK_QUEUE_NAME%",
                        "isSessionsEnabled": True, "autoCompleteMessages": False}],
        "status_clusters": http_get("clusters"),
        "status_cluster": http_get("clusters/subscriptions/{subscription}/{*rest}"),
        "status_request": http_get("requests/{requestId}"),
        "status_rollouts": http_get("rollouts"),
        "status_rollout": http_get("rollouts/{profile}"),
        # Resume and abort: the master key only (ADMIN), stricter than the reads' function keys.
        "rollout_action": [{"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["POST"],
                            "authLevel": "ADMIN", "route": "rollouts/{profile}/{action}"},
                           {"direction": "OUT", "type": "http", "name": "$return"}],
        "purge_requests": [{"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "0 30 3 * * *",
                            "runOnStartup": False, "useMonitor": True}],
        "sweep": [{"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "%SWEEP_SCHEDULE%",
                   "runOnStartup": False, "useMonitor": True}],
    }


def http_get(route: str) -> list[dict[str, object]]:
    return [{"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["GET"], "authLevel": "FUNCTION",
             "route": route},
            {"direction": "OUT", "type": "http", "name": "$return"}]


def test_host_json_settings_are_deliberate() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    sb = host["extensions"]["serviceBus"]
    assert sb["maxConcurrentCallsPerSession"] == 1
    # The function settles every message itself (handlers.settlement), which Microsoft documents needs automatic
    # completion off: in host.json and on the trigger, so neither can turn it back on alone.
    assert sb["autoCompleteMessages"] is False
    assert sb["prefetchCount"] == 0
    assert sb["maxAutoLockRenewalDuration"] <= host["functionTimeout"]  # both hh:mm:ss


def test_settings_template_names_every_setting_the_code_reads() -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "shared").glob("*.py"))
    read = set(re.findall(r'env\.get\("([A-Za-z_]+)"', code)) | \
        set(re.findall(r'_(?:float|int|pace)\(env, "(\w+)"', code))
    template = json.loads((ROOT / "local.settings.json.template").read_text())["Values"]
    missing = read - set(template) - {"ARM_ENDPOINT", "ARM_CA_BUNDLE", "LEDGER_CONNECTION_STRING",
                                      "PROVIDER_CACHE_SECONDS", "ARM_RETRY_BACKOFF_SECONDS"}
    assert not missing, f"settings read by the code but not in the template: {missing}"


def test_indexing_imports_no_management_or_service_bus_sdk() -> None:
    probe = ("import sys, function_app; function_app.app.get_functions();"
             "print('\\n'.join(m for m in sys.modules if m.startswith(('azure.mgmt', 'azure.servicebus', "
             "'azure.identity', 'azure.data', 'azure.monitor', 'azurefunctions', 'uamqp', 'opentelemetry', "
             "'jsonschema', 'yaml'))))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
