"""Request rows are kept for REQUEST_RETENTION_DAYS, then the daily timer deletes them (Azurite, virtual clock)."""
from __future__ import annotations

import logging

import pytest

from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.settings import Settings, SettingsError
from tests.e2e.helpers import RG, aks_id, send_request

DAY = 86400


def test_the_timer_purges_requests_unchanged_for_the_retention(local_azure: LocalAzure,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    az = local_azure
    az.reconfigure(request_retention_days=7)
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-kept")
    cluster_id = event["data"]["resourceUri"]
    send_request(az, cluster_id, message_id="m-old", requestId="r-old")
    send_request(az, cluster_id, message_id="bad-old", body=b"not json")
    az.drain()
    az.clock.advance(6 * DAY)
    send_request(az, cluster_id, message_id="m-recent", requestId="r-recent")
    az.drain()
    az.clock.advance(2 * DAY)  # r-old and bad-old: 8 days; r-recent: 2 days

    with caplog.at_level(logging.INFO, logger="argoboot"):
        az.host.run_timer("purge_requests")  # type: ignore[union-attr]

    ledger = az.services.ledger
    assert ledger.get_request("r-old") is None and ledger.get_request("bad-old") is None
    assert ledger.get_request("r-recent") is not None
    assert ledger.get_cluster(aks_id("aks-kept").lower()) is not None  # cluster rows are the fleet's state: kept
    assert az.http("GET", "/api/requests/r-old").status_code == 404
    assert any("purged 2 request rows unchanged for 7 days" in r.getMessage() for r in caplog.records)
    az.host.run_timer("purge_requests", past_due=True)  # type: ignore[union-attr]
    assert ledger.get_request("r-recent") is not None


@pytest.mark.parametrize(("value", "days"), [(None, 30), ("7", 7), ("365", 365)])
def test_retention_setting(value: str | None, days: int) -> None:
    env = {"ALLOWED_SUBSCRIPTIONS": SUBSCRIPTION} | ({"REQUEST_RETENTION_DAYS": value} if value else {})
    assert Settings.from_env(env).request_retention_days == days


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "a month"])
def test_retention_setting_refuses_what_would_purge_live_requests_or_is_not_days(value: str) -> None:
    with pytest.raises(SettingsError, match="REQUEST_RETENTION_DAYS"):
        Settings.from_env({"ALLOWED_SUBSCRIPTIONS": SUBSCRIPTION, "REQUEST_RETENTION_DAYS": value})
