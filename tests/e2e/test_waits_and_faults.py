"""Waiting without holding messages, Azure faults on the way, and the bounds on both."""
from __future__ import annotations

import logging

import pytest

from localazure.stack import QUEUE, SUBSCRIPTION, WORK, LocalAzure
from tests.e2e.helpers import RG, extension_puts, record, replies, send_request


def test_a_provider_already_registering_is_waited_for_not_registered_again(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.set_provider(SUBSCRIPTION, "Microsoft.ContainerService", "Registering")
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-wait-rp")
    az.deliver_event(event)
    az.drain()
    assert az.arm.count("POST") == 0
    assert record(az, event["data"]["resourceUri"]).phase == "succeeded"


def test_server_errors_beyond_azure_cores_retries_become_a_later_attempt(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-flaky")
    az.arm.inject(method="GET", path_regex=r"managedClusters/aks-flaky$", status=503, code="ServiceUnavailable",
                  times=4)  # more than azure-core's three retries
    az.deliver_event(event)
    az.drain()
    rec = record(az, event["data"]["resourceUri"])
    assert rec.phase == "succeeded" and extension_puts(az) == 1
    assert any("503 ServiceUnavailable" in h["step"] for h in rec.history)
    assert az.bus.errors == [] and az.bus.dead_letters(QUEUE) == []


def test_throttling_is_honoured_and_nothing_fails(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.inject(method="PUT", path_regex=r"/extensions/argocd$", status=429, code="SubscriptionRequestsThrottled",
                  retry_after=1, times=1)
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-throttled")
    az.deliver_event(event)
    az.drain()
    statuses = [r.status for r in az.arm.requests if r.method == "PUT"]
    assert statuses == [429, 201]  # azure-core waited Retry-After and tried again
    assert record(az, event["data"]["resourceUri"]).phase == "succeeded"


def test_non_retryable_azure_error_is_a_recorded_failure_with_its_code(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.inject(method="PUT", path_regex=r"/extensions/argocd$", status=403, code="AuthorizationFailed",
                  message="The client does not have authorization to perform action "
                          "'Microsoft.KubernetesConfiguration/extensions/write'", times=1)
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-denied")
    send_request(az, event["data"]["resourceUri"], message_id="m-denied")
    az.drain()
    [reply] = replies(az)
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "AuthorizationFailed"
    assert "extensions/write" in reply["error"]["message"]


def test_a_wait_that_never_ends_fails_after_the_bound(local_azure: LocalAzure) -> None:
    az = local_azure
    az.reconfigure(max_wait_polls=3)
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-stuck", provisioning_state="Creating")
    send_request(az, event["data"]["resourceUri"], message_id="m-stuck")
    az.drain()
    [reply] = replies(az)
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "WaitTimedOut"
    assert "cluster" in reply["error"]["message"]


def test_each_outcome_is_logged_with_cluster_and_request(local_azure: LocalAzure,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-logged")
    cluster_id = event["data"]["resourceUri"]
    with caplog.at_level(logging.INFO, logger="argoboot"):
        send_request(az, cluster_id, message_id="m-log", requestId="r-log")
        az.drain()
    lines = [r.getMessage() for r in caplog.records if r.name == "argoboot.outcomes"]  # one line per run
    assert any(f"cluster={cluster_id.lower()} outcome=waiting" in line and "request=r-log" in line for line in lines)
    assert any(f"cluster={cluster_id.lower()} outcome=succeeded" in line and "request=r-log" in line
               for line in lines)


def test_a_lost_continuation_is_replaced_by_the_next_request(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-lost")
    cluster_id = event["data"]["resourceUri"]
    send_request(az, cluster_id, message_id="m-1")
    assert az.deliver_one() and az.deliver_one()  # forwarded; starts the install, schedules a follow-up
    az.bus.queue(WORK).active.clear()  # the follow-up is lost (e.g. purged)
    az.clock.advance(3600)
    send_request(az, cluster_id, message_id="m-2")
    az.drain()
    assert record(az, cluster_id).phase == "succeeded"
    assert {r["_correlationId"] for r in replies(az)} == {"m-1", "m-2"}
    assert extension_puts(az) == 1
