"""End to end: Event Grid event or request -> queue -> reconciler -> ARM emulator, through the real entry points."""
from __future__ import annotations

from localazure.functions_host import as_cloud_event
from localazure.stack import QUEUE, SUBSCRIPTION, WORK, LocalAzure
from tests.e2e.helpers import MARKER, RG, arc_id, extension_puts, record, replies, send_request


def test_new_four_node_aks_cluster_gets_argocd_with_ha(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-prod-1", node_counts=(4,))
    assert az.deliver_event(event) is None
    az.drain()

    cluster_id = event["data"]["resourceUri"]
    ext = az.arm.extension(cluster_id, "argocd")
    assert ext is not None
    props = ext["properties"]
    assert props["extensionType"].lower() == "microsoft.argocd"
    assert props["releaseTrain"] == "preview"
    assert props["scope"] == {"cluster": {"releaseNamespace": "argocd"}}
    assert props["configurationSettings"] == {"redis-ha.enabled": "true", **MARKER}
    assert props["provisioningState"] == "Succeeded"
    assert extension_puts(az) == 1
    rec = record(az, cluster_id)
    assert rec.phase == "succeeded" and rec.last_error_code is None and rec.attempts == 1
    steps = [h["step"] for h in rec.history]
    assert any("install started" in s for s in steps) and steps[-1].startswith("extension argocd Succeeded")
    assert az.bus.errors == [] and az.bus.dead_letters(QUEUE) == []


def test_three_node_cluster_gets_single_node_argocd_and_says_why(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-small", node_counts=(3,))  # `az aks create`'s default
    az.deliver_event(event)
    az.drain()
    ext = az.arm.extension(event["data"]["resourceUri"], "argocd")
    assert ext is not None and ext["properties"]["configurationSettings"] == {"redis-ha.enabled": "false", **MARKER}
    assert ext["properties"]["provisioningState"] == "Succeeded"
    steps = [h["step"] for h in record(az, event["data"]["resourceUri"]).history]
    assert any("HA needs at least 4 schedulable nodes (Microsoft's Argo CD extension docs, 2026); this cluster has "
               "3: installing single-node (redis-ha.enabled=false)" in s for s in steps), steps


def test_arc_cluster_gets_the_extension_on_connected_clusters(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_arc_cluster(SUBSCRIPTION, RG, "arc-edge-1", node_count=4)
    az.deliver_event(as_cloud_event(event))  # CloudEvents 1.0 schema this time
    az.drain()
    assert az.arm.count("PUT", r"/Microsoft\.Kubernetes/connectedClusters/arc-edge-1/providers/"
                               r"Microsoft\.KubernetesConfiguration/extensions/argocd$") == 1
    assert az.arm.extension(arc_id("arc-edge-1"), "argocd")["properties"]["provisioningState"] == "Succeeded"
    assert record(az, arc_id("arc-edge-1")).phase == "succeeded"


def test_cluster_still_creating_waits_then_installs(local_azure: LocalAzure) -> None:
    az = local_azure
    start = az.clock()
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-new", provisioning_state="Creating", ready_after=300)
    az.deliver_event(event)
    az.drain()
    puts = [r for r in az.arm.requests if r.method == "PUT" and r.path.endswith("/extensions/argocd")]
    assert len(puts) == 1 and puts[0].started >= start + 300  # never before the cluster was ready
    rec = record(az, event["data"]["resourceUri"])
    assert rec.phase == "succeeded"
    assert any("cluster is Creating" in h["step"] for h in rec.history)


def test_unregistered_provider_is_registered_before_the_install(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.set_provider(SUBSCRIPTION, "Microsoft.KubernetesConfiguration", "NotRegistered")
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-fresh-sub")
    az.deliver_event(event)
    az.drain()
    order = [(r.method, r.path) for r in az.arm.requests if r.method in ("POST", "PUT")]
    assert order[0] == ("POST", f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.KubernetesConfiguration/register")
    assert order[1][0] == "PUT" and order[1][1].endswith("/extensions/argocd")
    assert az.arm.count("POST", "/register$") == 1
    assert record(az, event["data"]["resourceUri"]).phase == "succeeded"
    # The pass that registered ran the checks; the passes polling the registration read its state alone.
    register = next(r.started for r in az.arm.requests if r.method == "POST")
    provider = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.KubernetesConfiguration"
    registered = max(r.started for r in az.arm.requests if r.path == provider)
    polls = [r.path for r in az.arm.requests if register < r.started < registered]
    assert polls and set(polls) == {provider}, polls


def test_duplicate_events_and_requests_make_exactly_one_install(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-dup")
    cluster_id = event["data"]["resourceUri"]
    for _ in range(3):
        az.deliver_event(event)
    send_request(az, cluster_id, message_id="req-a", requestId="team-a-1")
    send_request(az, cluster_id, message_id="req-b", requestId="team-b-1")
    az.drain(workers=4)
    assert extension_puts(az) == 1
    assert az.bus.errors == [] and az.bus.dead_letters(QUEUE) == []
    answers = {r["requestId"]: r for r in replies(az)}
    assert set(answers) == {"team-a-1", "team-b-1"}
    assert {r["outcome"] for r in answers.values()} == {"succeeded"}
    assert answers["team-a-1"]["_correlationId"] == "req-a"
    for request_id in ("team-a-1", "team-b-1", f"evt-{event['id']}"):
        row = az.services.ledger.get_request(request_id)
        assert row is not None and row.status == "succeeded", request_id
    assert az.bus.queue(WORK).duplicates_dropped == 2  # the same event thrice is one message


def test_failed_install_is_retried_up_to_the_bound_then_reported_with_azures_code(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.fail_extension_installs(code="ExtensionOperationFailed",
                                   message="Helm installation failed : pre-install hook failed", times=3)
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-broken")
    cluster_id = event["data"]["resourceUri"]
    send_request(az, cluster_id, message_id="req-1")
    az.drain()
    rec = record(az, cluster_id)
    assert rec.phase == "failed" and rec.last_error_code == "ExtensionOperationFailed"
    assert "pre-install hook failed" in (rec.last_error_message or "") and "after 3 attempts" in rec.last_error_message
    [reply] = replies(az)
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "ExtensionOperationFailed"
    assert extension_puts(az) == 3 == rec.attempts  # MAX_INSTALL_ATTEMPTS, then no more


def test_an_install_that_fails_once_succeeds_on_the_next_attempt(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.fail_extension_installs(times=1)
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-flaky-install")
    send_request(az, event["data"]["resourceUri"], message_id="once")
    az.drain()
    rec = record(az, event["data"]["resourceUri"])
    assert rec.phase == "succeeded" and rec.attempts == 2 and extension_puts(az) == 2
    assert [r["outcome"] for r in replies(az)] == ["succeeded"]


def test_a_new_request_retries_a_failed_install(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.fail_extension_installs(times=3)
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-retry")
    cluster_id = event["data"]["resourceUri"]
    send_request(az, cluster_id, message_id="first")
    az.drain()
    assert record(az, cluster_id).phase == "failed"
    az.deliver_event(event)  # an event does not retry beyond the bound
    az.drain()
    assert record(az, cluster_id).phase == "failed" and extension_puts(az) == 3
    send_request(az, cluster_id, message_id="second")
    az.drain()
    rec = record(az, cluster_id)
    assert rec.phase == "succeeded" and rec.attempts == 1 and extension_puts(az) == 4


def test_converged_cluster_is_a_no_op(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-steady")
    az.deliver_event(event)
    az.drain()
    az.arm.clear_log()
    send_request(az, event["data"]["resourceUri"], message_id="again")
    az.drain()
    assert [(r.method, r.kind) for r in az.arm.requests] == [("GET", "read"), ("GET", "read")]
    assert replies(az)[0]["outcome"] == "succeeded"


def test_no_reconcile_reads_the_same_thing_twice(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.set_provider(SUBSCRIPTION, "Microsoft.Kubernetes", "NotRegistered")
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-frugal", provisioning_state="Creating", ready_after=120)
    az.deliver_event(event)
    function = az.host.functions["work_items"].get_user_function()  # type: ignore[union-attr]
    per_delivery: list[list[str]] = []

    def counted(msg: object) -> None:
        start = len(az.arm.requests)
        function(msg)
        per_delivery.append([r.path for r in az.arm.requests[start:] if r.method == "GET"])

    az.bus.run_until_idle(WORK, counted)
    assert record(az, event["data"]["resourceUri"]).phase == "succeeded"
    assert len(per_delivery) > 5
    for reads in per_delivery:
        assert len(reads) == len(set(reads)), reads
    # once a provider is seen Registered it is not read again by this instance
    provider_reads = [p for reads in per_delivery for p in reads if p.endswith("/providers/Microsoft.ContainerService")]
    assert len(provider_reads) == 1
