"""Someone else changes the service's extension: `plan` and `run` decide the same (one reconciler, the same ledger
inputs), and the repair re-sends the protected settings Azure dropped.

Azure's documentation says protected settings left out of an extension update are deleted, and `az k8s-extension
update` always sends `configurationProtectedSettings: {}`; the local Azure does the same. A person's `az
k8s-extension update --config x=y` therefore removes the Key Vault repository credential without a trace (Azure never
returns protected settings); the drift it leaves (x=y) brings the sweep, whose PATCH sends every protected setting."""
from __future__ import annotations

import secrets

from azure.identity import DefaultAzureCredential
from azure.mgmt.kubernetesconfiguration.v2023_05_01 import SourceControlConfigurationClient
from azure.mgmt.kubernetesconfiguration.v2023_05_01.models import PatchExtension

from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.azure.ledger import Owned
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.ownership import MARKER_KEY
from shared.bootstrap.planning import Plan, make_plan
from tests.e2e.helpers import RG, aks_id, ask, record

CREDENTIAL = "configs.credentialTemplates.root.password"


def _person_updates(az: LocalAzure, cluster_id: str, settings: dict[str, str] | None) -> None:
    """What `az k8s-extension update --config k=v` sends: the settings (none for an update of other properties,
    e.g. `--auto-upgrade`), and always an empty protected map."""
    client = SourceControlConfigurationClient(DefaultAzureCredential(), SUBSCRIPTION, base_url=az.arm.url,
                                              connection_verify=az.arm.ca_path,
                                              credential_scopes=["https://management.azure.com/.default"])
    ref = parse_cluster_id(cluster_id)
    client.extensions.begin_update(ref.resource_group, ref.namespace, ref.resource_type, ref.name, "argocd",
                                   PatchExtension(configuration_settings=settings,
                                                  configuration_protected_settings={}),
                                   polling=False).result()
    az.clock.advance(az.arm.extension_update_seconds)


def _plan(az: LocalAzure, cluster_id: str, profile: str, *, ledger: bool = True) -> Plan:
    reconciler = az.services.processor.reconciler
    owned = Owned.of(az.services.ledger.get_cluster(cluster_id.lower())) if ledger else None
    return make_plan(reconciler.api, reconciler.directory, az.services.settings, parse_cluster_id(cluster_id),
                     az.services.processor.profiles.resolve(profile), reconciler.secrets, ledger=owned)


def _installed_with_a_vault_credential(az: LocalAzure, name: str) -> tuple[str, str]:
    """A cluster bootstrapped with the gitops-keyvault profile: its id and the repository token it holds."""
    token = f"ghp_{secrets.token_hex(16)}"
    az.keyvault.set_secret("kv-fleet", "fleet-token", token)
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, name)
    cluster_id = aks_id(name)
    assert ask(az, cluster_id, "r-1", profile="gitops-keyvault")["outcome"] == "succeeded"
    assert az.arm.protected_settings(cluster_id, "argocd") == {CREDENTIAL: token}
    return cluster_id, token


def test_a_persons_update_drops_the_key_vault_credential_and_the_next_sweep_restores_it(
        platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id, token = _installed_with_a_vault_credential(az, "aks-kv")
    assert _plan(az, cluster_id, "gitops-keyvault").changes == ()  # plan agrees: nothing to do

    _person_updates(az, cluster_id, {"x": "y"})
    [person] = [r for r in az.arm.requests if r.method == "PATCH"][-1:]
    assert person.body["properties"]["configurationProtectedSettings"] == {}  # as the CLI sends it
    assert az.arm.protected_settings(cluster_id, "argocd") == {}  # dropped, as Azure's docs say

    planned = _plan(az, cluster_id, "gitops-keyvault")  # what the repair will do, from the same inputs
    [change] = planned.changes
    assert {s.key: s.desired for s in change.settings} == {"x": None, CREDENTIAL: "<from Key Vault: fleet-token>"}

    az.arm.clear_log()
    report = az.services.sweeper.run()
    assert report.enqueued == {cluster_id.lower(): "extension settings drifted from the profile"}
    az.drain()
    [repair] = [r.body["properties"] for r in az.arm.requests if r.method == "PATCH"]
    assert repair["configurationSettings"] == {"x": None}
    assert repair["configurationProtectedSettings"] == {CREDENTIAL: token}
    assert az.arm.protected_settings(cluster_id, "argocd") == {CREDENTIAL: token}
    assert any("protected settings sent" in h["step"] and "again" in h["step"]
               for h in record(az, cluster_id).history)


def test_an_update_that_changes_no_setting_still_brings_the_credential_back(platform_azure: LocalAzure) -> None:
    """`az k8s-extension update --auto-upgrade true` changes no setting, so no drift shows; the extension's
    `systemData.lastModifiedAt` does. The ledger keeps the one the service last saw converged: a later one means
    someone else updated it, and the protected settings go again."""
    az = platform_azure
    cluster_id, token = _installed_with_a_vault_credential(az, "aks-auto")
    seen = record(az, cluster_id).extension_seen
    assert seen is not None
    assert az.services.sweeper.run().enqueued == {}  # converged: nothing to do

    az.clock.advance(5)
    _person_updates(az, cluster_id, None)
    assert az.arm.protected_settings(cluster_id, "argocd") == {}  # dropped, with no setting changed

    az.arm.clear_log()
    report = az.services.sweeper.run()
    assert report.enqueued == {cluster_id.lower(): "extension updated by someone else (Azure drops protected "
                                                   "settings an update leaves out)"}
    az.drain()
    [repair] = [r.body["properties"] for r in az.arm.requests if r.method == "PATCH"]
    assert repair["configurationProtectedSettings"] == {CREDENTIAL: token}
    assert az.arm.protected_settings(cluster_id, "argocd") == {CREDENTIAL: token}
    assert any("protected settings sent" in h["step"] and "again" in h["step"]
               for h in record(az, cluster_id).history)
    after = record(az, cluster_id).extension_seen
    assert after not in (None, seen)  # the service's own repair, seen converged, is the new reference
    az.arm.clear_log()
    assert az.services.sweeper.run().enqueued == {}  # its own update does not bring it back again
    assert az.arm.count("PATCH") == 0


def test_plan_and_run_agree_after_someone_elses_put_dropped_the_marker(platform_azure: LocalAzure) -> None:
    """The ledger says the service created the extension; a PUT over it lost the marker setting. Before, `plan`
    (which never read the ledger) said ExtensionNotOwned while `run` PATCHed the marker back."""
    az = platform_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-over")
    cluster_id = aks_id("aks-over")
    assert ask(az, cluster_id, "r-1")["outcome"] == "succeeded"
    installed = az.arm.extension(cluster_id, "argocd")["properties"]["configurationSettings"]
    az.arm.add_extension(cluster_id, "argocd", settings={k: v for k, v in installed.items() if k != MARKER_KEY})

    planned = _plan(az, cluster_id, "default")
    assert planned.outcome.error_code is None, planned.outcome
    [change] = planned.changes
    assert change.action == "update-extension"
    # Without the ledger (`argoboot run` where none is configured) only the marker counts, for plan and run alike.
    assert _plan(az, cluster_id, "default", ledger=False).outcome.error_code == "ExtensionNotOwned"

    az.arm.clear_log()
    reply = ask(az, cluster_id, "r-2", action="update")
    assert reply["outcome"] == "succeeded" and reply["error"] is None, reply
    [patch] = [r.body["properties"] for r in az.arm.requests if r.method == "PATCH"]
    assert patch["configurationSettings"] == {s.key: s.desired for s in change.settings} == {MARKER_KEY: "argoboot"}
