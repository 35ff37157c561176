"""End to end through the queue: a hub bootstrapped with a hub profile, spokes registered on it through the hub
extension's settings, an ineligible spoke refused with its fix, a spoke's removal taking its registration and role.

Every assertion reads the emulator's Azure state (role assignments, the hub extension's settings rendered the way
the argo-cd chart renders them) or its request log.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localazure.arm import argocd_chart
from localazure.arm.cluster_access import cluster_ca
from localazure.arm.subscriptions import REGISTERED
from localazure.azurite import Azurite
from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.hub_profile import CLUSTER_ADMIN_ROLE, WRITER_ROLE
from shared.bootstrap.hub_registration import REGISTRATIONS_KEY, parse_registrations
from shared.bootstrap.workload_identity import identity_for
from tests.e2e.helpers import aks_id, arc_id, ask, record, replies, send_request

ROOT = Path(__file__).resolve().parents[2]
HUB = aks_id("aks-hub")
#: The role ids infra/modules/bootstrapper-role-assignment.bicep lets the app grant (its delegation condition).
BICEP = ROOT / "infra" / "modules" / "bootstrapper-role-assignment.bicep"
VAULT_SECRET = "https://kv-fleet.vault.localhost/secrets/fleet-token"
CREDENTIAL = "configs.credentialTemplates.root.password"  # the protected setting a keyVault repository becomes


def delegable_roles() -> list[str]:
    import re

    text = BICEP.read_text()
    listed = re.search(r"param delegableRoleIds array = \[(.*?)\]", text, re.S)
    assert listed is not None
    return re.findall(r"'([0-9a-f-]{36})'", listed.group(1))


@pytest.fixture
def hub_azure(azurite: Azurite, tmp_path: Path) -> Iterator[LocalAzure]:
    for profile in (ROOT / "profiles").glob("*.yaml"):
        shutil.copy(profile, tmp_path)
    (tmp_path / "hub.yaml").write_text("workloadIdentity:\n  enabled: true\n  serviceAccounts: [argocd-repo-server, "
                                       "argocd-application-controller, argocd-server]\nhub:\n  serve: true\n")
    (tmp_path / "spokes.yaml").write_text(f"hub:\n  cluster: {HUB}\n")
    (tmp_path / "hub-keyvault.yaml").write_text(  # a hub syncing a private repository whose token is in Key Vault
        "workloadIdentity:\n  enabled: true\n  serviceAccounts: [argocd-repo-server, argocd-application-controller, "
        "argocd-server]\nhub:\n  serve: true\ngitops:\n  root:\n    repoURL: https://github.com/contoso/fleet.git\n"
        "    path: hub\n    targetRevision: main\n  repository:\n    auth: keyVault\n"
        f"    keyVaultSecret: {VAULT_SECRET}\n    username: argocd-bot\n")
    (tmp_path / "team-spokes.yaml").write_text(f"hub:\n  cluster: {HUB}\n  role: Writer\n  namespaces: [team-a]\n"
                                               "  arcClusters: refuse\n")
    with LocalAzure(azurite=azurite, provider_states=REGISTERED, settings={"PROFILES_DIR": str(tmp_path)}) as az:
        az.arm.set_delegation(delegable_roles())  # as deployed: the condition on the app's own role assignment
        yield az


def hub_secrets(az: LocalAzure) -> list[dict[str, Any]]:
    ext = az.arm.extension(HUB, "argocd")
    assert ext is not None
    values = argocd_chart.values_tree(ext["properties"]["configurationSettings"])
    return [s for s in argocd_chart.cluster_secrets(values) if s["metadata"]["name"].startswith("argocd-spoke-")]


def bootstrap_hub(az: LocalAzure) -> dict[str, Any]:
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-hub")
    reply = ask(az, HUB, "r-hub", profile="hub")
    assert reply["outcome"] == "succeeded", reply
    return reply


def test_a_hub_gets_workload_identity_for_its_controller_and_server(hub_azure: LocalAzure) -> None:
    az = hub_azure
    bootstrap_hub(az)
    identity = next(i for i in az.arm.identities()
                    if i["name"] == identity_for(parse_cluster_id(HUB), None).name)
    subjects = {c["properties"]["subject"] for c in az.arm.federated_credentials(identity["id"])}
    assert {"system:serviceaccount:argocd:argocd-application-controller",
            "system:serviceaccount:argocd:argocd-server"} <= subjects
    ext = az.arm.extension(HUB, "argocd")
    assert ext is not None
    settings = ext["properties"]["configurationSettings"]
    client_id = identity["properties"]["clientId"]
    assert settings["azure.workloadIdentity.enabled"] == "true"
    assert settings["azure.workloadIdentity.clientId"] == client_id
    for component in ("controller", "server"):
        assert settings[f"{component}.serviceAccount.annotations.azure\\.workload\\.identity/client-id"] == client_id


def test_a_spoke_is_registered_on_the_hub_with_its_ca_and_no_token(hub_azure: LocalAzure) -> None:
    az = hub_azure
    bootstrap_hub(az)
    hub_identity = next(i for i in az.arm.identities() if i["name"] == identity_for(parse_cluster_id(HUB), None).name)
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-spoke", tags={"environment": "prod"})
    spoke = aks_id("aks-spoke")
    reply = ask(az, spoke, "r-spoke", profile="spokes")
    assert reply["outcome"] == "succeeded", reply
    assert any("registered on hub aks-hub" in s for s in reply["steps"]), reply["steps"]
    assert az.arm.extension(spoke, "argocd") is None  # a spoke gets no Argo CD of its own
    [assignment] = az.arm.role_assignments(spoke)
    assert assignment["properties"]["roleDefinitionId"].endswith(CLUSTER_ADMIN_ROLE)
    assert assignment["properties"]["principalId"] == hub_identity["properties"]["principalId"]
    [secret] = hub_secrets(az)
    data = secret["stringData"]
    fqdn = az.arm.cluster(spoke)["properties"]["fqdn"]  # type: ignore[index]
    assert data["server"] == f"https://{fqdn}:443"
    config = json.loads(data["config"])
    assert config["execProviderConfig"] == {
        "command": "argocd-k8s-auth", "args": ["azure"], "apiVersion": "client.authentication.k8s.io/v1beta1",
        "env": {"AAD_ENVIRONMENT_NAME": "AzurePublicCloud", "AAD_LOGIN_METHOD": "workloadidentity",
                "AZURE_CLIENT_ID": hub_identity["properties"]["clientId"]}}
    internal = az.arm._clusters[spoke.lower()]  # the CA the emulator's kubeconfig carries
    assert config["tlsClientConfig"] == {"insecure": False, "caData": cluster_ca(internal)}
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"
    assert secret["metadata"]["labels"]["cluster_name"] == "aks-spoke"
    assert secret["metadata"]["annotations"]["cluster_id"] == spoke
    # The kubeconfig's token reached nothing: not the hub, the reply or the ledger.
    token_hint = "token:"
    ext = az.arm.extension(HUB, "argocd")
    blob = json.dumps(ext) + json.dumps(reply) + repr(record(az, spoke))
    assert "users:" not in blob and token_hint not in blob
    assert az.arm.issued_user_tokens and not any(t in blob for t in az.arm.issued_user_tokens)


def test_an_ineligible_spoke_is_refused_with_its_fix_and_costs_nothing(hub_azure: LocalAzure) -> None:
    az = hub_azure
    bootstrap_hub(az)
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-local-accounts")
    spoke = aks_id("aks-local-accounts")
    az.arm.set_cluster_access(spoke, aad_rbac=False)
    before = [r for r in az.arm.requests if r.method != "GET"]
    reply = ask(az, spoke, "r-bad", profile="spokes")
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "SpokeWithoutEntra", reply
    assert "az aks update -g rg-platform -n aks-local-accounts --enable-aad --enable-azure-rbac" in \
        reply["error"]["message"]
    assert [r for r in az.arm.requests if r.method != "GET"] == before
    assert hub_secrets(az) == [] and az.arm.role_assignments(spoke) == []


def test_private_and_arc_spokes_follow_the_profile(hub_azure: LocalAzure) -> None:
    az = hub_azure
    bootstrap_hub(az)
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-private")
    az.arm.set_cluster_access(aks_id("aks-private"), private=True)
    reply = ask(az, aks_id("aks-private"), "r-private", profile="spokes")
    assert reply["error"]["code"] == "PrivateSpoke" and "privateClusters: reachable" in reply["error"]["message"]
    az.arm.add_arc_cluster(SUBSCRIPTION, "rg-platform", "arc-edge")
    reply = ask(az, arc_id("arc-edge"), "r-arc", profile="team-spokes")
    assert reply["error"]["code"] == "ArcSpoke", reply


def test_a_namespaced_spoke_gets_the_writer_role_in_its_namespaces_only(hub_azure: LocalAzure) -> None:
    az = hub_azure
    bootstrap_hub(az)
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-team")
    spoke = aks_id("aks-team")
    reply = ask(az, spoke, "r-team", profile="team-spokes")
    assert reply["outcome"] == "succeeded", reply
    assert az.arm.role_assignments(spoke) == []
    [assignment] = az.arm.role_assignments(f"{spoke}/namespaces/team-a")
    assert assignment["properties"]["roleDefinitionId"].endswith(WRITER_ROLE)
    [secret] = hub_secrets(az)
    assert secret["stringData"]["namespaces"] == "team-a"


def test_two_spokes_of_one_name_and_a_removal(hub_azure: LocalAzure) -> None:
    az = hub_azure
    bootstrap_hub(az)
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-app")
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-other", "aks-app")
    first, second = aks_id("aks-app"), aks_id("aks-app").replace("rg-platform", "rg-other")
    assert ask(az, first, "r-1", profile="spokes")["outcome"] == "succeeded"
    assert ask(az, second, "r-2", profile="spokes")["outcome"] == "succeeded"
    names = sorted(s["stringData"]["name"] for s in hub_secrets(az))
    assert len(names) == 2 and names[0] != names[1] and all(n.startswith("aks-app-") for n in names)
    reply = ask(az, first, "r-rm", action="uninstall")
    assert reply["outcome"] == "uninstalled", (reply["steps"], reply.get("error"))
    assert [s["metadata"]["annotations"]["cluster_id"] for s in hub_secrets(az)] == [second]
    assert az.arm.role_assignments(first) == [] and len(az.arm.role_assignments(second)) == 1


def test_a_hub_patch_azure_refuses_is_retried_and_one_hub_operation_runs_at_a_time(hub_azure: LocalAzure) -> None:
    az = hub_azure
    bootstrap_hub(az)
    az.arm.inject(method="PATCH", path_regex=r"/managedClusters/aks-hub/providers/.*/extensions/argocd", status=409,
                  code="Conflict", message="An operation (update) is already in progress on extension 'argocd'. "
                  "Please wait for the operation to complete before starting a new operation.")
    for name in ("aks-one", "aks-two"):
        az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", name)
    for name in ("aks-one", "aks-two"):
        send_request(az, aks_id(name), message_id=f"r-{name}", profile="spokes")
    az.drain()
    outcomes = {r["requestId"]: r["outcome"] for r in replies(az)}
    assert outcomes == {"r-hub": "succeeded", "r-aks-one": "succeeded", "r-aks-two": "succeeded"}, outcomes
    assert len(hub_secrets(az)) == 2
    # Never a PATCH while the hub's extension ran an operation: the emulator would have answered 409 (only the one
    # injected above was refused).
    patches = [r for r in az.arm.requests if r.method == "PATCH" and "aks-hub" in r.path]
    assert sum(1 for r in patches if r.status == 409) == 1, [(r.path, r.status) for r in patches]


@pytest.mark.parametrize("stage", ["queued", "sent"])
def test_a_spoke_deleted_while_its_registration_is_in_flight_leaves_nothing(hub_azure: LocalAzure,
                                                                            stage: str) -> None:
    az = hub_azure
    bootstrap_hub(az)
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-brief")
    spoke = aks_id("aks-brief")
    send_request(az, spoke, message_id="r-brief", profile="spokes")
    while az.deliver_one():  # its registration is queued in the hub's batch, sent once the window passes
        pass
    if stage == "sent":
        az.drain(until=az.clock() + 5.5)
        ext = az.arm.extension(HUB, "argocd")
        assert ext is not None and ext["properties"]["provisioningState"] == "Updating"
    az.deliver_event(az.arm.delete_cluster(spoke))
    az.drain()
    assert hub_secrets(az) == []
    assert az.arm.role_assignments(spoke) == []
    assert record(az, spoke).phase == "deleted"


@pytest.mark.parametrize("hub_then", ["updating", "idle"])
def test_a_run_that_read_the_hub_before_another_runs_batch_landed_sends_no_patch_of_its_own(
        hub_azure: LocalAzure, hub_then: str) -> None:
    """The interleaving behind a burst's extra PATCHes, made deterministic: a slow run read the hub (idle) and its
    batch (its change queued, unclaimed), then another run sent that batch. The slow run must not claim the emptied
    batch and PATCH the hub from what it read: Azure would refuse it while the hub updates (409), and once the hub
    is idle that PATCH would erase the registrations the batch just added."""
    from shared.bootstrap.hub_batching import HubSender
    from shared.bootstrap.outcome import Run

    az = hub_azure
    bootstrap_hub(az)
    names = ("aks-first", "aks-slow")
    for name in names:
        az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", name)
        send_request(az, aks_id(name), message_id=f"r-{name}", profile="spokes")
    while az.deliver_one():  # both registrations queued in the hub's batch
        pass
    hub_ref, ledger = parse_cluster_id(HUB), az.services.ledger
    reconciler = az.services.processor.reconciler
    snapshot = ledger.hub_batch(hub_ref.key)  # what the slow run read
    stale = reconciler.api.get_extension(hub_ref, "argocd")
    assert stale is not None and len(snapshot.pending) == 2
    mine = {n: c.manifest for n, c in snapshot.pending.items() if n.startswith("aks-slow")}
    before = az.arm.count("PATCH", r"/aks-hub/providers/.*/extensions/argocd$")
    az.drain(until=az.clock() + 5.5)  # another run sends the batch
    assert az.arm.count("PATCH", r"/aks-hub/providers/.*/extensions/argocd$") == before + 1
    if hub_then == "idle":
        az.clock.advance(az.arm.extension_update_seconds)

    class SlowRead:
        """The ledger as the slow run saw it: its first read of the batch came before the batch was sent."""

        reads = [snapshot]

        def __getattr__(self, name: str) -> Any:
            return getattr(ledger, name)

        def hub_batch(self, key: str) -> Any:
            return self.reads.pop() if self.reads else ledger.hub_batch(key)

    slow = HubSender(reconciler.api, SlowRead(), az.clock, reconciler.hub_protection)  # type: ignore[arg-type]
    slow.send(Run(), hub_ref, stale.settings, mine)
    assert az.arm.count("PATCH", r"/aks-hub/providers/.*/extensions/argocd$") == before + 1
    az.drain()
    assert az.arm.count("PATCH", r"/aks-hub/providers/.*/extensions/argocd$") == before + 1
    assert sorted(s["stringData"]["name"].rsplit("-", 1)[0] for s in hub_secrets(az)) == list(names)
    assert ledger.hub_batch(hub_ref.key).pending == {}  # nothing left queued to trigger a batch for nothing


def test_a_burst_of_spokes_shares_hub_patches(hub_azure: LocalAzure) -> None:
    az = hub_azure
    bootstrap_hub(az)
    before = az.arm.count("PATCH", r"/aks-hub/providers/.*/extensions/argocd$")
    names = [f"aks-burst-{i:02d}" for i in range(30)]
    for name in names:
        az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", name)
        send_request(az, aks_id(name), message_id=f"r-{name}", profile="spokes")
    az.drain(workers=4)
    outcomes = {r["requestId"]: r["outcome"] for r in replies(az) if r["requestId"] != "r-hub"}
    assert set(outcomes.values()) == {"succeeded"} and len(outcomes) == 30
    assert len(hub_secrets(az)) == 30
    patches = az.arm.count("PATCH", r"/aks-hub/providers/.*/extensions/argocd$") - before
    # The 30 spokes queue within one window, so one PATCH carries them all, whatever the order in which four workers
    # reach the hub: a run that read the hub before that PATCH sends none of its own (the issue: 200 spokes in at
    # most 10 PATCHes). Under load this once took two: a late claimant PATCHed from a stale read (the test above).
    assert patches == 1, patches
    assert not [r for r in az.arm.requests if r.method == "PATCH" and "aks-hub" in r.path and r.status == 409]


def test_a_spokes_batch_patch_keeps_the_hubs_key_vault_credential_and_is_not_taken_for_someone_elses(
        hub_azure: LocalAzure, caplog: pytest.LogCaptureFixture) -> None:
    """Azure drops protected settings an update leaves out (the emulator too): the hub PATCH that registers a spoke
    carries the hub's own, read from Key Vault, and the hub's ledger record knows the service wrote last."""
    import logging
    import secrets

    az = hub_azure
    caplog.set_level(logging.DEBUG)
    token = f"ghp_{secrets.token_hex(16)}"
    az.keyvault.set_secret("kv-fleet", "fleet-token", token)
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-hub")
    assert ask(az, HUB, "r-hub", profile="hub-keyvault")["outcome"] == "succeeded"
    assert az.arm.protected_settings(HUB, "argocd") == {CREDENTIAL: token}
    before = len(az.arm.requests)
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-spoke")
    spoke = aks_id("aks-spoke")
    assert ask(az, spoke, "r-spoke", profile="spokes")["outcome"] == "succeeded"
    [batch] = [r for r in az.arm.requests[before:] if r.method == "PATCH" and "aks-hub" in r.path]
    assert batch.body["properties"]["configurationProtectedSettings"] == {CREDENTIAL: token}
    assert az.arm.protected_settings(HUB, "argocd") == {CREDENTIAL: token}
    assert len(hub_secrets(az)) == 1
    seen = repr(record(az, HUB)) + repr(record(az, spoke)) + caplog.text + json.dumps(replies(az))
    assert token not in seen  # never in the ledger, a log or a reply
    assert az.host is not None
    az.host.run_timer("sweep")
    assert az.services.sweeper.last_report.enqueued == {}  # the service's own PATCH is not someone else's
    ext = az.services.processor.reconciler.api.get_extension(parse_cluster_id(HUB), "argocd")
    assert ext is not None and record(az, HUB).extension_seen == ext.modified_at  # drift detection goes on
    az.services.processor.reconciler.api.patch_extension(parse_cluster_id(HUB), "argocd", {})  # someone's update
    assert az.arm.protected_settings(HUB, "argocd") == {}
    az.clock.advance(az.arm.extension_update_seconds)
    az.host.run_timer("sweep")
    assert az.services.sweeper.last_report.enqueued == {HUB.lower(): "extension updated by someone else (Azure "
                                                        "drops protected settings an update leaves out)"}
    az.drain()
    assert az.arm.protected_settings(HUB, "argocd") == {CREDENTIAL: token}
    plan_shows_the_hubs_protected_settings(az)


def plan_shows_the_hubs_protected_settings(az: LocalAzure) -> None:
    """`plan` of another spoke: its hub PATCH carries the hub's protected setting (by its label), and the plan
    writes nothing, not even the hub's ledger record."""
    from shared.bootstrap.hub_protection import HubProtection
    from shared.bootstrap.planning import make_plan

    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-planned")
    reconciler, profiles = az.services.processor.reconciler, az.services.processor.profiles
    hub_record = record(az, HUB)
    plan = make_plan(reconciler.api, reconciler.directory, az.services.settings, parse_cluster_id(aks_id(
        "aks-planned")), profiles.resolve("spokes"), reconciler.secrets, hub_protection=HubProtection(
            az.services.ledger, profiles, reconciler.secrets, records=False))
    [hub_patch] = [c for c in plan.changes if c.action == "update-extension"]
    assert {s.key: s.desired for s in hub_patch.settings}[CREDENTIAL] == "<from Key Vault: fleet-token>"
    assert record(az, HUB) == hub_record and record(az, HUB).etag == hub_record.etag


def test_a_spoke_is_refused_rather_than_patch_a_hub_whose_key_vault_secret_is_gone(hub_azure: LocalAzure) -> None:
    az = hub_azure
    az.keyvault.set_secret("kv-fleet", "fleet-token", "ghp_0123456789abcdef")
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-hub")
    assert ask(az, HUB, "r-hub", profile="hub-keyvault")["outcome"] == "succeeded"
    az.keyvault._secrets.clear()  # deleted from the vault (the local vault has no delete route)
    before = az.arm.count("PATCH", r"/aks-hub/providers/.*/extensions/argocd$")
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-spoke")
    reply = ask(az, aks_id("aks-spoke"), "r-spoke", profile="spokes")
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "KeyVaultSecretNotFound", reply
    assert "hub aks-hub" in reply["error"]["message"] and "Key Vault Secrets User" in reply["error"]["message"]
    assert az.arm.count("PATCH", r"/aks-hub/providers/.*/extensions/argocd$") == before  # none to drop it
    assert az.arm.protected_settings(HUB, "argocd") == {CREDENTIAL: "ghp_0123456789abcdef"}


def test_the_sweep_repairs_a_removed_registration_and_a_deleted_role_assignment(hub_azure: LocalAzure) -> None:
    az = hub_azure
    bootstrap_hub(az)
    for name in ("aks-kept", "aks-unregistered", "aks-unassigned"):
        az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", name)
        assert ask(az, aks_id(name), f"r-{name}", profile="spokes")["outcome"] == "succeeded"
    assert az.host is not None
    az.host.run_timer("sweep")
    assert az.services.sweeper.last_report.enqueued == {}  # converged: nothing to do
    api = az.services.processor.reconciler.api
    hub_ref = parse_cluster_id(HUB)
    ext = az.arm.extension(HUB, "argocd")
    assert ext is not None
    kept = {n: m for n, m in parse_registrations(ext["properties"]["configurationSettings"]).items()
            if not n.startswith("aks-unregistered")}
    api.patch_extension(hub_ref, "argocd", {REGISTRATIONS_KEY: "\n---\n".join(kept.values())})  # someone's edit
    az.drain()
    [assignment] = az.arm.role_assignments(aks_id("aks-unassigned"))
    api.delete_role_assignment(SUBSCRIPTION, aks_id("aks-unassigned"), assignment["name"])
    az.host.run_timer("sweep")
    assert set(az.services.sweeper.last_report.enqueued) == {aks_id("aks-unregistered").lower(),
                                                             aks_id("aks-unassigned").lower()}
    az.drain()
    assert len(hub_secrets(az)) == 3 and len(az.arm.role_assignments(aks_id("aks-unassigned"))) == 1


def test_plan_shows_the_role_assignment_and_the_hub_patch_and_status_shows_both_sides(hub_azure: LocalAzure) -> None:
    from shared.azure.ledger import Owned
    from shared.bootstrap.planning import make_plan

    az = hub_azure
    bootstrap_hub(az)
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-planned")
    spoke = aks_id("aks-planned")
    reconciler = az.services.processor.reconciler
    plan = make_plan(reconciler.api, reconciler.directory, az.services.settings, parse_cluster_id(spoke),
                     az.services.processor.profiles.resolve("spokes"), reconciler.secrets, ledger=Owned())
    actions = [(c.action, c.target) for c in plan.changes]
    assert ("create-role-assignment" in [a for a, _ in actions]) and ("update-extension", "argocd") in actions
    [hub_patch] = [c for c in plan.changes if c.action == "update-extension"]
    assert "on hub aks-hub" in hub_patch.detail
    assert any(s.key == REGISTRATIONS_KEY and s.kind == "add" for s in hub_patch.settings)
    assert az.arm.role_assignments(spoke) == [] and hub_secrets(az) == []  # a plan writes nothing
    assert ask(az, spoke, "r-planned", profile="spokes")["outcome"] == "succeeded"
    spoke_view = json.loads(az.http("GET", f"/api/clusters{spoke}").get_body())
    [entry] = spoke_view["registeredOn"]
    assert entry["hub"].lower() == HUB.lower() and entry["name"].startswith("aks-planned-")
    hub_view = json.loads(az.http("GET", f"/api/clusters{HUB}").get_body())
    assert [s["clusterResourceId"] for s in hub_view["spokes"]] == [spoke]


def test_a_hub_identity_not_yet_replicated_is_waited_for_and_said(hub_azure: LocalAzure) -> None:
    az = hub_azure
    az.arm.principal_replication_seconds = 600.0  # longer than the hub's install: the spoke's assignment meets it
    bootstrap_hub(az)
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-platform", "aks-early")
    reply = ask(az, aks_id("aks-early"), "r-early", profile="spokes")
    assert reply["outcome"] == "succeeded", reply
    assert any("PrincipalNotFound" in step for step in reply["steps"]), reply["steps"]
    assert len(az.arm.role_assignments(aks_id("aks-early"))) == 1
