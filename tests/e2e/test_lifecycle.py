"""End to end: update and uninstall requests, cluster deletes (and writes that arrive after them), opt-out tags and
scope. Every case checks Azure's state in the emulator and the ledger, not the service's account of itself."""
from __future__ import annotations

from typing import Any

import pytest

from localazure.arm.subscriptions import REGISTERED
from localazure.stack import QUEUE, SUBSCRIPTION, LocalAzure
from tests.conftest import SSO_CLIENT_ID
from tests.e2e.helpers import RG, aks_id, record, replies, send_request

REGISTRY = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-shared/providers/"
            "Microsoft.ContainerRegistry/registries/platformacr")


def writes(az: LocalAzure) -> list[str]:
    return [f"{r.method} {r.path}" for r in az.arm.requests if r.method != "GET"]


def ask(az: LocalAzure, cluster_id: str, request_id: str, **fields: Any) -> dict[str, Any]:
    send_request(az, cluster_id, message_id=request_id, **fields)
    az.drain()
    [reply] = [r for r in replies(az) if r["requestId"] == request_id]
    return reply


def nothing_left(az: LocalAzure, cluster_id: str) -> None:
    assert az.arm.extension(cluster_id, "argocd") is None
    assert [i for i in az.arm.identities() if i["tags"].get("managed-by") == "argoboot"] == []
    assert az.arm.role_assignments(REGISTRY) == []
    assert az.arm.application_credentials(SSO_CLIENT_ID) == []


def test_uninstall_removes_the_extension_then_everything_the_service_created(platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id = aks_id("aks-bye")
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-bye")
    assert ask(az, cluster_id, "r-install", profile="platform")["outcome"] == "succeeded"
    identity = next(i for i in az.arm.identities() if i["tags"].get("managed-by") == "argoboot")
    az.arm.clear_log()

    reply = ask(az, cluster_id, "r-uninstall", action="uninstall")

    assert reply["outcome"] == "uninstalled" and reply["error"] is None, reply
    nothing_left(az, cluster_id)
    assert az.arm.federated_credentials(identity["id"]) == []
    order = [w.split(" ")[0] + " " + w.rsplit("/", 2)[-2] for w in writes(az)]
    assert order[0] == "DELETE extensions"  # the extension goes first, the identity last
    assert order[-1] == "DELETE userAssignedIdentities"
    assert sum(1 for w in writes(az) if "/userAssignedIdentities/" in w and "/federatedIdentityCredentials/" in w) == 2
    assert sum(1 for w in writes(az) if w.startswith("DELETE /v1.0/applications/")) == 1  # the SSO credential
    rec = record(az, cluster_id)
    assert (rec.phase, rec.intent, rec.created, rec.config_hash) == ("uninstalled", "absent", (), None)

    az.arm.clear_log()
    az.deliver_event(event)  # AKS sends write events for every update: they must not reinstall
    az.drain()
    assert writes(az) == [] and record(az, cluster_id).phase == "uninstalled"

    assert ask(az, cluster_id, "r-again")["outcome"] == "succeeded"  # an explicit request installs again
    assert az.arm.extension(cluster_id, "argocd") is not None
    assert record(az, cluster_id).profile == "platform"  # with the profile it had


def test_uninstall_of_a_cluster_never_bootstrapped_is_a_quiet_success(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-bare")
    reply = ask(az, aks_id("aks-bare"), "r-1", action="uninstall")
    assert reply["outcome"] == "uninstalled"
    assert writes(az) == []


def test_update_reapplies_the_profile_now(platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id = aks_id("aks-upd")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-upd")
    ask(az, cluster_id, "r-1", profile="workload-identity")
    az.arm.clear_log()
    assert ask(az, cluster_id, "r-2", action="update")["outcome"] == "succeeded"
    assert writes(az) == []  # converged: re-applying writes nothing
    installed = az.arm.extension(cluster_id, "argocd")["properties"]["configurationSettings"]
    az.arm.add_extension(cluster_id, "argocd", settings={**installed, "redis-ha.enabled": "false"})  # by hand
    reply = ask(az, cluster_id, "r-3", action="update")
    assert reply["outcome"] == "succeeded" and reply["action"] == "update"
    [patch] = [r for r in az.arm.requests if r.method == "PATCH"]
    assert patch.body["properties"]["configurationSettings"] == {"redis-ha.enabled": "true"}


def test_cluster_delete_cleans_up_and_leaves_foreign_resources_alone(platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id = aks_id("aks-gone")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-gone")
    ask(az, cluster_id, "r-1", profile="platform")
    foreign = az.arm.add_identity(SUBSCRIPTION, RG, "someone-elses", tags={"managed-by": "terraform"})

    az.deliver_event(az.arm.delete_cluster(cluster_id))
    az.drain()

    nothing_left(az, cluster_id)
    assert [i["id"] for i in az.arm.identities()] == [foreign]
    rec = record(az, cluster_id)
    assert (rec.phase, rec.intent, rec.created) == ("deleted", "absent", ())
    assert rec.deleted_at is not None
    assert az.bus.errors == [] and az.bus.dead_letters(QUEUE) == []


def test_an_identity_without_our_tags_is_reported_not_deleted(platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id = aks_id("aks-tagged")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-tagged")
    ask(az, cluster_id, "r-1", profile="workload-identity")
    identity = next(i for i in az.arm.identities() if i["tags"].get("managed-by") == "argoboot")
    az.arm.set_identity_tags(identity["id"], {"managed-by": "someone-else"})  # someone took it over
    reply = ask(az, cluster_id, "r-2", action="uninstall")
    assert reply["outcome"] == "uninstalled"
    assert [i["id"] for i in az.arm.identities()] == [identity["id"]]
    assert len(az.arm.federated_credentials(identity["id"])) == 2
    assert any("does not carry the service's ownership tags; left alone" in s for s in reply["steps"])


def test_a_write_event_delivered_after_the_delete_does_not_resurrect_the_cluster(local_azure: LocalAzure) -> None:
    az = local_azure
    write = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-late")
    az.clock.advance(30)
    delete = az.arm.delete_cluster(write["data"]["resourceUri"])
    az.deliver_event(delete)  # Event Grid delivers the delete first...
    az.drain()
    az.arm.clear_log()
    az.deliver_event(write)  # ...and the write 30 s older than it afterwards
    az.drain()
    assert az.arm.requests == []
    rec = record(az, write["data"]["resourceUri"])
    assert rec.phase == "deleted" and rec.last_error_code is None


def test_a_cluster_recreated_after_its_delete_is_bootstrapped_again(local_azure: LocalAzure) -> None:
    az = local_azure
    first = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-phoenix")
    az.deliver_event(first)
    az.drain()
    az.clock.advance(60)
    az.deliver_event(az.arm.delete_cluster(first["data"]["resourceUri"]))
    az.drain()
    az.clock.advance(60)
    second = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-phoenix")
    az.deliver_event(second)
    az.drain()
    assert record(az, second["data"]["resourceUri"]).phase == "succeeded"
    assert az.arm.extension(second["data"]["resourceUri"], "argocd") is not None


@pytest.mark.parametrize(("default", "tag", "installed"), [
    ("in", None, True), ("in", "off", False), ("in", "false", False),
    ("out", None, False), ("out", "on", True),
])
def test_opt_tag_decides_for_events(azurite: Any, default: str, tag: str | None, installed: bool) -> None:
    with LocalAzure(azurite=azurite, provider_states=REGISTERED, settings={"OPT_DEFAULT": default}) as az:
        event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-opt", tags={"argoboot": tag} if tag else None)
        az.deliver_event(event)
        az.drain()
        cluster_id = event["data"]["resourceUri"]
        assert (az.arm.extension(cluster_id, "argocd") is not None) is installed
        rec = record(az, cluster_id)
        assert rec.phase == ("succeeded" if installed else "skipped")
        if not installed:
            assert writes(az) == [] and "opted out" in rec.history[-1]["step"]
            send_request(az, cluster_id, message_id="explicit")  # a request always acts
            az.drain()
            assert az.arm.extension(cluster_id, "argocd") is not None


def test_resource_group_scope_refuses_events_and_requests_outside_it(azurite: Any) -> None:
    with LocalAzure(azurite=azurite, provider_states=REGISTERED,
                    settings={"ALLOWED_RESOURCE_GROUPS": f"{SUBSCRIPTION}/rg-allowed"}) as az:
        outside = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-outside")
        inside = az.arm.add_aks_cluster(SUBSCRIPTION, "rg-allowed", "aks-inside")
        assert az.deliver_event(outside) is None and az.bus.messages(QUEUE) == []
        az.deliver_event(inside)
        az.drain()
        assert az.arm.extension(inside["data"]["resourceUri"], "argocd") is not None
        az.arm.clear_log()
        send_request(az, outside["data"]["resourceUri"], message_id="r-outside")
        az.drain()
        [dead] = az.bus.dead_letters(QUEUE)
        assert dead.reason == "ResourceGroupNotAllowed" and "ALLOWED_RESOURCE_GROUPS" in dead.description
        assert az.arm.requests == []
