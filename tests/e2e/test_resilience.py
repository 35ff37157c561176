"""Resilience under Azure's faults, end to end through the real entry points (issue 5).

Every case asserts the final Azure state in the emulator (extension, identity, federated credentials, role
assignment, the SSO application's credential), the ledger, the replies, and that nothing was created twice
(201s per resource in the emulator's request log) or left behind (an uninstall or a delete removes it all).
Crashes between steps are in test_crash_matrix.py; reordered and duplicated events in test_event_order.py.
Lost answers (Azure did the write, the client never heard) are here too: the emulator's `lose_response`.
"""
from __future__ import annotations

import itertools
import re

import pytest
from azure.core.exceptions import ServiceRequestError

from localazure.stack import QUEUE, SUBSCRIPTION, WORK, LocalAzure
from shared.pipeline.intake import forwarded_id
from tests.e2e.azure_state import (
    assert_bootstrapped,
    assert_clean_bus,
    assert_nothing_created_twice,
    assert_removed,
    assert_replied_once,
    assert_requests_terminal,
    identities_of,
    issuer_of,
    new_cluster,
    quick,
)
from tests.e2e.crashes import CrashPlan, Failing, install_crash_plan
from tests.e2e.helpers import RG, record, replies, send_request

KC = "Microsoft.KubernetesConfiguration"
ARM_FIC = r"^/subscriptions/.*/federatedIdentityCredentials"
GRAPH_FIC = r"^/v1\.0/applications/[^/(]+/federatedIdentityCredentials"
#: Every kind of call a workload identity + SSO + ACR bootstrap and an uninstall make: (method, path).
CALLS = {
    "provider GET": ("GET", r"^/subscriptions/[^/]+/providers/[^/]+$"),
    "provider register POST": ("POST", rf"^/subscriptions/[^/]+/providers/{KC}/register$"),
    "cluster GET": ("GET", r"/managedClusters/[^/]+$"),
    "identity GET": ("GET", r"/userAssignedIdentities/[^/]+$"),
    "identity PUT": ("PUT", r"/userAssignedIdentities/[^/]+$"),
    "credential list GET": ("GET", ARM_FIC + "$"),
    "credential PUT": ("PUT", ARM_FIC + "/[^/]+$"),
    "role assignment GET": ("GET", r"/roleAssignments/[^/]+$"),
    "role assignment PUT": ("PUT", r"/roleAssignments/[^/]+$"),
    "registry GET": ("GET", r"/Microsoft\.ContainerRegistry/registries/[^/]+$"),
    "Graph application GET": ("GET", r"^/v1\.0/applications\(appId="),
    "Graph redirect URIs GET": ("GET", r"^/v1\.0/applications/[^/(]+$"),
    "Graph redirect URIs PATCH": ("PATCH", r"^/v1\.0/applications/[^/(]+$"),
    "Graph credential list GET": ("GET", GRAPH_FIC + "$"),
    "Graph credential POST": ("POST", GRAPH_FIC + "$"),
    "extension types GET": ("GET", r"/locations/[^/]+/extensionTypes/Microsoft\.ArgoCD/versions$"),
    "extension list GET": ("GET", r"/extensions$"),
    "extension GET": ("GET", r"/extensions/argocd$"),
    "extension PUT": ("PUT", r"/extensions/argocd$"),
    "extension DELETE": ("DELETE", r"/extensions/argocd$"),
    "Graph credential DELETE": ("DELETE", GRAPH_FIC + "/[^/]+$"),
    "role assignment DELETE": ("DELETE", r"/roleAssignments/[^/]+$"),
    "credential DELETE": ("DELETE", ARM_FIC + "/[^/]+$"),
    "identity DELETE": ("DELETE", r"/userAssignedIdentities/[^/]+$"),
}


def kind_of(method: str, path: str) -> str | None:
    return next((name for name, (m, pattern) in CALLS.items() if m == method and re.search(pattern, path, re.I)),
                None)


def calls_of(az: LocalAzure, kind: str) -> list[int]:
    """The statuses of the logged requests of one kind (0: the connection was dropped)."""
    return [r.status for r in az.arm.requests if kind_of(r.method, r.path) == kind]


def bootstrap_and_uninstall(az: LocalAzure, name: str = "aks-fault") -> tuple[str, str]:
    """Bootstrap with the platform profile, check it, uninstall, check nothing is left; returns (cluster, issuer)."""
    cluster_id = new_cluster(az, name)
    issuer = issuer_of(az, cluster_id)
    send_request(az, cluster_id, message_id="m-boot", requestId="r-boot", profile="platform")
    az.drain()
    assert_bootstrapped(az, cluster_id)
    send_request(az, cluster_id, message_id="m-rm", requestId="r-rm", action="uninstall")
    az.drain()
    assert_removed(az, cluster_id, issuer=issuer)
    assert_nothing_created_twice(az)
    assert_replied_once(az, {"r-boot": "succeeded", "r-rm": "uninstalled"})
    assert_requests_terminal(az, ["r-boot", "r-rm"])
    assert_clean_bus(az)
    return cluster_id, issuer


def test_the_fault_matrix_covers_every_call_a_bootstrap_and_an_uninstall_make(platform_azure: LocalAzure) -> None:
    az = platform_azure
    quick(az)
    az.arm.set_provider(SUBSCRIPTION, KC, "NotRegistered")
    bootstrap_and_uninstall(az)
    kinds = [kind_of(r.method, r.path) for r in az.arm.requests]
    unknown = [f"{r.method} {r.path}" for r, kind in zip(az.arm.requests, kinds, strict=True) if kind is None]
    assert unknown == []  # a new kind of call: add it to CALLS, so that faults are injected there too
    assert set(kinds) == set(CALLS)
    # The extension's async operation is never polled (it is read back by a GET of the extension instead).
    assert az.arm.count("GET", "/operations/") == 0


@pytest.mark.parametrize("kind", list(CALLS))
def test_server_errors_then_dropped_connections_on_any_call_are_retried_to_the_same_end(
        platform_azure: LocalAzure, kind: str) -> None:
    az = platform_azure
    quick(az)
    az.arm.set_provider(SUBSCRIPTION, KC, "NotRegistered")
    method, pattern = CALLS[kind]
    # Four of each: more than azure-core's three retries, so the service's own retry (a continuation) is needed.
    az.arm.inject(method=method, path_regex=pattern, status=503, code="ServiceUnavailable", times=4)
    az.arm.inject(method=method, path_regex=pattern, drop_connection=True, times=4)

    cluster_id, _ = bootstrap_and_uninstall(az)

    statuses = calls_of(az, kind)
    steps = [h["step"] for h in record(az, cluster_id).history] + [s for r in replies(az) for s in r["steps"]]
    if kind == "extension types GET":  # a pre-flight answer: past azure-core's retries it is unknown, not awaited
        assert statuses == [503] * 4, statuses
        assert any(s.startswith("pre-flight check availability unknown") and "503" in s for s in steps), steps
        return
    assert statuses.count(503) == 4 and statuses.count(0) == 4, statuses
    assert statuses[-1] in (200, 201, 202, 204, 404), statuses  # and then it went through
    assert any("503 ServiceUnavailable" in s for s in steps) and any("ConnectionError" in s for s in steps)


def test_a_429_burst_is_waited_out_for_its_retry_after(platform_azure: LocalAzure) -> None:
    az = platform_azure
    quick(az)
    throttled = r"/userAssignedIdentities/[^/]+$"
    # Four 429s: azure-core honours Retry-After three times (real seconds), then the service waits Retry-After on
    # the clock, not its 60 s default; one 429 on Graph is absorbed by azure-core alone.
    az.arm.inject(method="PUT", path_regex=throttled, status=429, code="SubscriptionRequestsThrottled",
                  retry_after=1, times=4)
    az.arm.inject(method="POST", path_regex=GRAPH_FIC, status=429, code="TooManyRequests", retry_after=1, times=1)

    cluster_id, _ = bootstrap_and_uninstall(az)

    puts = [r for r in az.arm.requests if r.method == "PUT" and re.search(throttled, r.path)]
    assert [r.status for r in puts] == [429, 429, 429, 429, 201]
    assert 1 <= puts[-1].started - puts[-2].started < az.services.settings.cluster_poll_seconds
    assert calls_of(az, "Graph credential POST") == [429, 201]
    assert identities_of(az, cluster_id) == []


def test_an_install_that_fails_twice_succeeds_on_the_third_attempt_with_nothing_created_twice(
        platform_azure: LocalAzure) -> None:
    az = platform_azure
    quick(az)
    az.arm.fail_extension_installs(message="Helm installation failed : timed out waiting for the condition", times=2)
    cluster_id = new_cluster(az, "aks-flaky")
    send_request(az, cluster_id, message_id="m-1", requestId="r-1", profile="platform")
    az.drain()

    assert_bootstrapped(az, cluster_id)
    assert record(az, cluster_id).attempts == 3
    assert calls_of(az, "extension PUT") == [201, 200, 200]  # one create, two re-installs of the same extension
    assert calls_of(az, "identity PUT") == [201] and calls_of(az, "Graph credential POST") == [201]
    assert_nothing_created_twice(az)
    [reply] = assert_replied_once(az, {"r-1": "succeeded"})
    assert sum("install restarted" in s for s in reply["steps"]) == 2
    assert_requests_terminal(az, ["r-1"])
    assert_clean_bus(az)


def test_an_install_that_keeps_failing_stops_at_the_bound_and_an_uninstall_leaves_nothing(
        platform_azure: LocalAzure) -> None:
    az = platform_azure
    quick(az)
    az.arm.fail_extension_installs(message="Helm installation failed : pre-install hook failed", times=10)
    cluster_id = new_cluster(az, "aks-broken")
    issuer = issuer_of(az, cluster_id)
    send_request(az, cluster_id, message_id="m-1", requestId="r-1", profile="platform")
    az.drain()

    rec = record(az, cluster_id)
    assert (rec.phase, rec.last_error_code, rec.attempts) == ("failed", "ExtensionOperationFailed", 3)
    assert "pre-install hook failed" in (rec.last_error_message or "")
    ext = az.arm.extension(cluster_id, "argocd")
    assert ext is not None and ext["properties"]["provisioningState"] == "Failed"
    assert calls_of(az, "extension PUT") == [201, 200, 200]  # MAX_INSTALL_ATTEMPTS
    [identity] = identities_of(az, cluster_id)  # kept for the next attempt, and known to the ledger
    assert identity["id"].lower() in {c.lower() for c in rec.created} and len(rec.created) == 6  # with the extension
    assert_nothing_created_twice(az)
    [reply] = assert_replied_once(az, {"r-1": "failed"})
    assert reply["error"]["code"] == "ExtensionOperationFailed" and "after 3 attempts" in reply["error"]["message"]

    az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-bystander"))  # events meanwhile change nothing
    send_request(az, cluster_id, message_id="m-rm", requestId="r-rm", action="uninstall")
    az.drain()
    assert_removed(az, cluster_id, issuer=issuer)
    assert az.arm.count("PUT", r"/aks-broken/.*/extensions/argocd$") == 3  # never re-installed after the bound
    assert_requests_terminal(az, ["r-1", "r-rm"])
    assert_clean_bus(az)


def test_409_on_federated_credential_writes_is_retried_soon_backing_off_under_the_identity_cap(
        platform_azure: LocalAzure) -> None:
    az = platform_azure
    quick(az)
    az.arm.inject(method="PUT", path_regex=ARM_FIC + "/", status=409,
                  code="ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity",
                  message="Too many Federated Identity Credentials are written concurrently", times=3)
    cluster_id = new_cluster(az, "aks-fic")
    send_request(az, cluster_id, message_id="m-1", requestId="r-1", profile="platform")
    az.drain()

    assert_bootstrapped(az, cluster_id)
    writes = [r for r in az.arm.requests if r.method == "PUT" and re.search(ARM_FIC + "/", r.path)]
    assert [r.status for r in writes] == [409, 409, 409, 201, 201]  # azure-core does not retry a 409: the service
    gaps = [b.started - a.started for a, b in itertools.pairwise(writes[:4])]
    # A race clears within seconds: retried at once and then less often (the poll schedule's back-off: 0.5 s, then
    # doubling), never further apart than IDENTITY_RETRY_SECONDS, its cap.
    assert gaps == [0.5, 1.0, 2.0], gaps
    assert all(gap <= az.services.settings.identity_retry_seconds for gap in gaps)
    assert_nothing_created_twice(az)
    assert_replied_once(az, {"r-1": "succeeded"})
    assert_clean_bus(az)


def test_aks_refusing_the_install_while_the_cluster_updates_is_waited_out(platform_azure: LocalAzure) -> None:
    az = platform_azure
    quick(az)
    cluster_id = new_cluster(az, "aks-busy")
    # The cluster starts an update (e.g. a node pool scale) between the service's cluster GET and its extension PUT.
    plan = CrashPlan(hooks={"arm.put_extension": lambda: az.arm.set_cluster_state(cluster_id, "Updating")})
    install_crash_plan(az, plan)
    send_request(az, cluster_id, message_id="m-1", requestId="r-1", profile="platform")
    function = az.host.functions["work_items"].get_user_function()  # type: ignore[union-attr]
    updated_at: list[float] = []

    def host(msg: object) -> None:
        function(msg)
        refused = [r for r in az.arm.requests if r.status == 409]
        if refused and not updated_at and az.clock() >= refused[0].started + 600:
            updated_at.append(az.clock())
            az.arm.set_cluster_state(cluster_id, "Succeeded")  # the update finished

    az.bus.run_all_until_idle({**az.functions(), WORK: host})

    assert_bootstrapped(az, cluster_id)
    puts = [r for r in az.arm.requests if kind_of(r.method, r.path) == "extension PUT"]
    assert [r.status for r in puts] == [409, 201]
    assert puts[1].started >= updated_at[0]  # no install tried while AKS was updating
    steps = [h["step"] for h in record(az, cluster_id).history] + replies(az)[0]["steps"]
    assert any("409 OperationNotAllowed" in s for s in steps) and any("cluster is Updating" in s for s in steps)
    assert_nothing_created_twice(az)
    assert_replied_once(az, {"r-1": "succeeded"})
    assert_clean_bus(az)


def test_a_provider_registering_past_the_deadline_fails_naming_it(platform_azure: LocalAzure) -> None:
    az = platform_azure
    quick(az)
    az.arm.provider_registration_seconds = 10 ** 6  # Azure never finishes
    az.arm.set_provider(SUBSCRIPTION, KC, "NotRegistered")
    az.reconfigure(provider_registration_timeout=300)
    cluster_id = new_cluster(az, "aks-stuck-rp")
    start = az.clock()
    send_request(az, cluster_id, message_id="m-1", requestId="r-1", profile="platform")
    az.drain()

    [reply] = assert_replied_once(az, {"r-1": "failed"})
    assert reply["error"]["code"] == "ProviderRegistrationTimedOut"
    assert KC in reply["error"]["message"] and "az provider register" in reply["error"]["message"]
    rec = record(az, cluster_id)
    assert (rec.phase, rec.last_error_code, rec.created) == ("failed", "ProviderRegistrationTimedOut", ())
    assert 300 < rec.last_changed - start <= 300 + az.services.settings.provider_poll_seconds
    assert calls_of(az, "provider register POST") == [200]  # registered once, then only read
    assert [r for r in az.arm.requests if r.method != "GET" and r.method != "POST"] == []  # nothing created
    assert_requests_terminal(az, ["r-1"])
    assert_clean_bus(az)

    az.arm.set_provider(SUBSCRIPTION, KC, "Registered")  # someone fixed the subscription; a new request works
    send_request(az, cluster_id, message_id="m-2", requestId="r-2")
    az.drain()
    assert_bootstrapped(az, cluster_id)
    assert_nothing_created_twice(az)


def test_twenty_concurrent_requests_for_one_cluster_make_one_install_and_twenty_replies(
        platform_azure: LocalAzure) -> None:
    az = platform_azure
    quick(az)
    cluster_id = new_cluster(az, "aks-popular")
    others = [new_cluster(az, f"aks-other-{n}") for n in range(3)]
    for n, other in enumerate(others):  # other sessions keep the four workers busy at the same time
        send_request(az, other, message_id=f"m-other-{n}", requestId=f"r-other-{n}", profile="workload-identity")
    request_ids = [f"r-{n:02d}" for n in range(20)]
    for request_id in request_ids[:10]:
        send_request(az, cluster_id, message_id=f"m{request_id}", requestId=request_id, profile="platform")
    az.bus.run_until_idle(QUEUE, az.functions()[QUEUE])  # all forwarded to the work queue
    for _ in range(6):  # the install is under way when the other ten arrive
        az.bus.deliver_one(WORK, az.functions()[WORK])
    for request_id in request_ids[10:]:
        send_request(az, cluster_id, message_id=f"m{request_id}", requestId=request_id, profile="platform")
    az.drain(workers=4)

    assert_bootstrapped(az, cluster_id)
    assert az.arm.count("PUT", r"/managedClusters/aks-popular/.*/extensions/argocd$") == 1
    assert az.arm.count("PUT", r"/userAssignedIdentities/argocd-aks-popular-[^/]+$") == 1
    assert_nothing_created_twice(az)
    got = assert_replied_once(az, {**dict.fromkeys(request_ids, "succeeded"),
                                   **{f"r-other-{n}": "succeeded" for n in range(3)}})
    assert {r["_correlationId"] for r in got if r["requestId"] in request_ids} == {f"m{i}" for i in request_ids}
    assert_requests_terminal(az, [*request_ids, *(f"r-other-{n}" for n in range(3))])
    assert record(az, cluster_id).last_request_id in request_ids
    assert_clean_bus(az)


@pytest.mark.parametrize("down", ["every call", "writes"])
def test_a_poison_message_is_dead_lettered_after_the_max_delivery_count(platform_azure: LocalAzure,
                                                                        down: str) -> None:
    az = platform_azure
    quick(az)
    az.arm.extension_install_seconds = 120  # still installing when the sender asks again
    cluster_id = new_cluster(az, "aks-poison")
    outage = ServiceRequestError("<urllib3.connection.HTTPSConnection>: Failed to establish a new connection: "
                                 "[Errno 111] Connection refused")
    failing = {"get_cluster", "save_cluster", "get_request", "save_request"} if down == "every call" \
        else {"save_cluster", "save_request"}
    az.services.processor.ledger = Failing(az.services.ledger, outage, failing)
    send_request(az, cluster_id, message_id="m-poison", requestId="r-poison", profile="platform")
    az.drain()

    [dead] = az.bus.dead_letters(WORK)  # forwarded at once; the work on the work queue is what failed
    max_deliveries = az.bus.queue(WORK).max_delivery_count
    assert (dead.reason, dead.envelope.message.message_id, dead.envelope.delivery_count) == \
        ("MaxDeliveryCountExceeded", forwarded_id("m-poison"), max_deliveries)
    assert dead.description == f"Message could not be consumed after {max_deliveries} delivery attempts."
    assert len(az.bus.errors) == max_deliveries and all(e is outage for e in az.bus.errors)
    assert replies(az) == []  # with the ledger down nothing can be promised (the sender sees the dead letter)
    if down == "every call":
        assert az.arm.requests == []  # it never got as far as Azure
    else:  # each delivery redid the work up to the ledger write: observed, never duplicated
        assert calls_of(az, "identity PUT") == [201] and calls_of(az, "extension PUT") == [201]
        assert len(calls_of(az, "extension list GET")) >= max_deliveries
    assert_nothing_created_twice(az)
    # The follow-up the first delivery scheduled found no ledger record: it did nothing (with no record it
    # would have re-applied the default profile over the request's).
    assert az.arm.count("PATCH", r"/extensions/") == 0 and az.bus.messages(WORK) == []

    az.services.processor.ledger = az.services.ledger  # the ledger is back; the sender asks again
    send_request(az, cluster_id, message_id="m-again", requestId="r-again", profile="platform")
    az.drain()
    assert_bootstrapped(az, cluster_id)  # the ledger learns everything the poisoned runs created
    assert az.arm.count("PATCH", r"/extensions/") == 0
    assert_nothing_created_twice(az)
    assert_replied_once(az, {"r-again": "succeeded"})
    assert len(az.bus.dead_letters(WORK)) == 1 and az.bus.messages(WORK) == []


WRITES = [kind for kind, (method, _) in CALLS.items() if method != "GET"]


@pytest.mark.parametrize("kind", WRITES)
def test_a_write_azure_did_but_whose_answer_was_lost_is_not_done_twice(platform_azure: LocalAzure,
                                                                       kind: str) -> None:
    az = platform_azure
    quick(az)
    az.arm.set_provider(SUBSCRIPTION, KC, "NotRegistered")
    method, pattern = CALLS[kind]
    az.arm.inject(method=method, path_regex=pattern, lose_response=True)  # Azure did it; the answer never came

    bootstrap_and_uninstall(az)  # every resource once, the same end state, each requester answered once

    assert calls_of(az, kind), kind
