"""Operable: every run and every sweep leaves one structured record, and the alerts and the workbook in infra/ query
only fields those records really carry.

The field names are read from the records an end-to-end run produced here (a bootstrap through an event, a failure,
a refused request, a sweep), captured with caplog: not from a list someone keeps by hand. The queries are read from
infra/workbook.json and infra/modules/alerts.bicep as deployed.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from localazure.stack import QUEUE, SUBSCRIPTION, LocalAzure
from shared.pipeline.outcome_record import RUN, SWEEP
from tests.e2e.helpers import RG, aks_id, replies, send_request
from tests.infra.bicep import INFRA, parse, sweep_window

WORKBOOK = INFRA / "workbook.json"
ALERTS = INFRA / "modules" / "alerts.bicep"
_PLAIN = set(vars(logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None))) | {"message", "asctime"}
_FIELD = re.compile(r"customDimensions(?:\.(\w+)|\[[\"'](\w+)[\"']\])")
_RECORD_TYPE = re.compile(r"customDimensions\.record_type\s*==\s*\"([^\"]+)\"")
_OUTCOME = re.compile(r"customDimensions\.outcome\s*(?:==\s*\"([^\"]+)\"|in\s*\(([^)]*)\))")


@pytest.fixture
def produced(platform_azure: LocalAzure, caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The structured records of a small but complete day: a bootstrap, a failure, a refusal, a sweep."""
    az = platform_azure
    with caplog.at_level(logging.INFO, logger="argoboot"):
        az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-ops", node_counts=(4,)))
        az.drain()
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-ops-small", node_counts=(2,))
        send_request(az, aks_id("aks-ops-small"), message_id="m-ops-ha", profile="ha")
        az.drain()
        send_request(az, aks_id("aks-ops"), message_id="m-ops-bad", body=b"{not json")
        az.drain()
        assert az.host is not None
        az.host.run_timer("sweep")
        az.drain()
    assert [r["outcome"] for r in replies(az)] == ["failed", "rejected"]
    assert [d.envelope.message.message_id for d in az.bus.dead_letters(QUEUE)] == ["m-ops-bad"]
    return [r for r in caplog.records if hasattr(r, "record_type")]


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: value for name, value in vars(record).items() if name not in _PLAIN}


def _queries() -> dict[str, str]:
    """Every log query infra/ deploys: the workbook's and the log alerts', by where they come from."""
    workbook = json.loads(WORKBOOK.read_text())
    found = {f"workbook:{item['name']}": item["content"]["query"] for item in workbook["items"]
             if item["type"] == 3}
    for alert in parse(ALERTS)["variables"]["logAlerts"]["value"]:
        found[f"alert:{alert['name']}"] = alert["query"]
    return found


def test_every_run_and_sweep_leaves_one_record_with_the_fixed_fields(produced: list[logging.LogRecord]) -> None:
    runs = [_fields(r) for r in produced if r.record_type == RUN]  # type: ignore[attr-defined]
    by_cluster: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:  # the first record of each cluster and outcome
        by_cluster.setdefault((run["cluster_id"], run["outcome"]), run)
    done = by_cluster[(aks_id("aks-ops").lower(), "succeeded")]
    assert (done["source"], done["cluster_kind"], done["subscription_id"]) == ("continuation", "aks", SUBSCRIPTION)
    assert done["profile"] == "default" and done["error_code"] == ""
    assert done["install_seconds"] >= 120  # the emulator's install takes 120 s on the virtual clock
    first = next(r for r in runs if r["source"] == "event")
    assert first["outcome"] == "waiting" and first["notice_seconds"] >= 0  # noticed: the event's first run
    failed = by_cluster[(aks_id("aks-ops-small").lower(), "failed")]
    assert (failed["error_code"], failed["profile"], failed["source"]) == ("NotEnoughNodesForHA", "ha", "request")
    assert "install_seconds" not in failed and "notice_seconds" not in failed
    rejected = [r for r in runs if r["outcome"] == "rejected"]
    assert len(rejected) == 1 and rejected[0]["error_code"] and rejected[0]["request_id"] == "m-ops-bad"
    [sweep] = [_fields(r) for r in produced if r.record_type == SWEEP]  # type: ignore[attr-defined]
    assert sweep["outcome"] == "succeeded" and sweep["clusters"] == 2 and sweep["failed_subscriptions"] == 0


def test_alerts_and_workbook_query_only_fields_the_service_emits(produced: list[logging.LogRecord]) -> None:
    emitted = {name for r in produced for name in _fields(r)}
    record_types = {r.record_type for r in produced}  # type: ignore[attr-defined]
    outcomes = {r.outcome for r in produced}  # type: ignore[attr-defined]
    queries = _queries()
    assert {"alert:failed-runs", "alert:no-sweep", "alert:app-failures", "workbook:runs-by-outcome",
            "workbook:top-errors", "workbook:notice-latency", "workbook:install-duration"} <= set(queries)
    problems = []
    for where, query in queries.items():
        fields = {a or b for a, b in _FIELD.findall(query)}
        problems += [f"{where}: customDimensions.{f} is not a field of any record" for f in sorted(fields - emitted)]
        problems += [f"{where}: record_type {t!r} is never emitted" for t in set(_RECORD_TYPE.findall(query))
                     - record_types]
        named = {v for single, several in _OUTCOME.findall(query)
                 for v in ([single] if single else re.findall(r"\"([^\"]+)\"", several))}
        problems += [f"{where}: outcome {o!r} is never emitted" for o in sorted(named - outcomes)]
        if "customDimensions" in query and not _RECORD_TYPE.search(query):
            problems.append(f"{where}: reads customDimensions without choosing a record_type")
    assert problems == [], "\n".join(problems)
    # And the other way: the workbook shows every dimension the issue asks for.
    shown = {a or b for q in queries.values() for a, b in _FIELD.findall(q)}
    assert {"outcome", "error_code", "cluster_kind", "subscription_id", "profile", "cluster_id",
            "notice_seconds", "install_seconds"} <= shown


def test_the_dead_letter_alerts_watch_both_queues_and_the_event_subscription() -> None:
    resources = parse(ALERTS)["resources"]
    criteria = resources["deadLetters"]["config"]["properties"]["criteria"]["allOf"][0]
    assert criteria["metricName"] == "DeadletteredMessages" and criteria["dimensions"][0]["values"] == \
        ["installQueueName", "workQueueName"]  # refused requests, and work that kept failing
    events = parse(INFRA / "modules" / "cluster-events.bicep")
    assert "DeadLetteredCount" in [a["metric"] for a in events["variables"]["deliveryAlerts"]["value"]]
    metric = events["resources"]["deliveryAlert"]["config"]["config"]["properties"]["criteria"]["allOf"][0]
    assert "eventSubscriptionName" in metric["dimensions"][0]["values"]  # and its upper case, as Event Grid reports
    workbook = parse(INFRA / "modules" / "workbook.bicep")["resources"]["workbook"]["config"]["properties"]
    assert workbook["sourceId"] == "applicationInsightsId"


def test_no_sweep_alert_waits_two_schedules_of_the_deployed_sweep() -> None:
    main = parse(INFRA / "main.bicep")["parameters"]
    minutes = int(re.fullmatch(r"0 \*/(\d+) \* \* \* \*", main["sweepSchedule"]["default"]).group(1))  # type: ignore[union-attr]
    assert main["sweepIntervalMinutes"]["default"] == minutes
    (no_sweep,) = [a for a in parse(ALERTS)["variables"]["logAlerts"]["value"] if a["name"] == "no-sweep"]
    assert (no_sweep["operator"], no_sweep["threshold"]) == ("LessThan", 1)
    assert no_sweep["window"] == "sweepWindow" and "var wanted = 2 * sweepIntervalMinutes" in ALERTS.read_text()
    assert sweep_window(minutes) == "PT1H"
