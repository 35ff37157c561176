"""Telemetry: the ids on every log line of a reconcile; Azure Monitor only with a connection string, set up lazily."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from localazure.stack import QUEUE, SUBSCRIPTION, LocalAzure
from shared import telemetry
from shared.bootstrap.cluster_ids import session_id_of
from shared.log_context import LOG_IDS
from tests.e2e.helpers import RG, send_request

ROOT = Path(__file__).resolve().parents[2]
FAKE_CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"


def test_every_log_line_of_a_reconcile_carries_cluster_request_and_correlation_ids(
        local_azure: LocalAzure, caplog: pytest.LogCaptureFixture) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-traced", provisioning_state="Creating", ready_after=60)
    key = event["data"]["resourceUri"].lower()
    with caplog.at_level(logging.DEBUG, logger="argoboot"):
        send_request(az, key, message_id="m-traced", requestId="r-traced")
        az.drain()  # the first run, then the continuations it schedules
        az.deliver_event(event)
        az.drain()
        send_request(az, key, message_id="m-refused", body=b"{")
        az.drain()
    ours = [r for r in caplog.records if r.name.startswith("argoboot.")]
    assert len(ours) >= 4
    for r in ours:
        assert all(getattr(r, name, None) for name in LOG_IDS), (r.getMessage(), r.__dict__)
        # A body that does not parse names no cluster: its lines carry the session id (past 128 characters, the
        # digest every sender uses for this cluster); once parsed, the lower-cased cluster id.
        expected = session_id_of(key) if r.request_id == "m-refused" else key  # type: ignore[attr-defined]
        assert r.cluster_id == expected  # type: ignore[attr-defined]
    by_request = {(r.request_id, r.correlation_id) for r in ours}  # type: ignore[attr-defined]
    assert ("r-traced", "m-traced") in by_request  # a continuation keeps the id of the message that began it
    assert (f"evt-{event['id']}", event["id"]) in by_request
    assert ("m-refused", "m-refused") in by_request
    assert az.bus.dead_letters(QUEUE)[0].envelope.message.message_id == "m-refused"


def test_no_connection_string_no_telemetry(local_azure: LocalAzure, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "_started", None)
    assert local_azure.http("GET", "/api/clusters").status_code == 200
    assert telemetry._started is False
    with telemetry.span("nothing", cluster_id="c"):
        pass


def test_the_first_invocation_configures_azure_monitor_once(local_azure: LocalAzure,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.monitor.opentelemetry as distro

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kw: calls.append(kw))
    monkeypatch.setattr(telemetry, "_started", None)
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", FAKE_CONNECTION)
    local_azure.http("GET", "/api/clusters")
    local_azure.host.run_timer("purge_requests")  # type: ignore[union-attr]
    assert calls == [{"connection_string": FAKE_CONNECTION, "logger_name": "argoboot"}]


def test_with_a_connection_string_traces_and_logs_go_to_azure_monitor_never_at_import(tmp_path: Path) -> None:
    probe = f"""
import logging, sys
import function_app
function_app.app.get_functions()
assert not [m for m in sys.modules if m.startswith(("opentelemetry", "azure.monitor"))], "imported at indexing"
from shared import telemetry
assert telemetry.start_telemetry({{"APPLICATIONINSIGHTS_CONNECTION_STRING": "{FAKE_CONNECTION}"}})
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
assert isinstance(trace.get_tracer_provider(), TracerProvider)
with telemetry.span("install_request", cluster_id="c"):
    assert trace.get_current_span().get_span_context().is_valid
print(sorted(type(h).__name__ for h in logging.getLogger("argoboot").handlers))
"""
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "LoggingHandler" in out.stdout
