"""What the resilience tests check after every fault: the Azure state in the emulator, the ledger, the replies, and
that nothing was created twice or left behind. Everything is read from the emulator or the ledger, never from the
service's own account of what it did.
"""
from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from localazure.arm.subscriptions import REGISTERED
from localazure.azurite import Azurite
from localazure.stack import QUEUE, SUBSCRIPTION, WORK, LocalAzure
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.workload_identity import identity_for
from tests.conftest import ROOT, SSO_CLIENT_ID
from tests.e2e.helpers import RG, aks_id, record, replies

REGISTRY = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-shared/providers/"
            "Microsoft.ContainerRegistry/registries/platformacr")
#: Service accounts of the `platform` test profile (workload identity + Entra SSO + ACR).
SERVICE_ACCOUNTS = ("argocd-repo-server", "argocd-application-controller")
TERMINAL = {"succeeded", "failed", "uninstalled", "deleted", "skipped", "rejected"}


def copy_profiles(target: Path) -> Path:
    for profile in (*(ROOT / "profiles").glob("*.yaml"), *(ROOT / "tests" / "profiles").glob("*.yaml")):
        shutil.copy(profile, target)
    return target


@contextmanager
def platform_stack(azurite: Azurite, profiles_dir: Path) -> Iterator[LocalAzure]:
    """The `platform_azure` fixture as a context manager (for tests that need one stack per case in a loop)."""
    with LocalAzure(azurite=azurite, provider_states=REGISTERED, settings={"PROFILES_DIR": str(profiles_dir)}) as az:
        az.arm.add_application("argocd-sso", app_id=SSO_CLIENT_ID)
        az.arm.add_registry(SUBSCRIPTION, "rg-shared", "platformacr")
        yield az


def quick(az: LocalAzure) -> None:
    """Azure's slow parts short (on the virtual clock): fewer polls, so a matrix of cases stays fast."""
    az.arm.principal_replication_seconds = 0
    az.arm.extension_install_seconds = 15
    az.arm.extension_delete_seconds = 15


def new_cluster(az: LocalAzure, name: str, **options: Any) -> str:
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, name, **options)
    return aks_id(name)


def issuer_of(az: LocalAzure, cluster_id: str) -> str:
    cluster = az.arm.cluster(cluster_id)
    assert cluster is not None
    return str(cluster["properties"]["oidcIssuerProfile"]["issuerURL"])


def identities_of(az: LocalAzure, cluster_id: str) -> list[dict[str, Any]]:
    name = identity_for(parse_cluster_id(cluster_id), None).name
    return [i for i in az.arm.identities() if i["name"] == name]


def sso_credentials_of(az: LocalAzure, issuer: str) -> list[dict[str, Any]]:
    return [c for c in az.arm.application_credentials(SSO_CLIENT_ID) if c["issuer"] == issuer]


def assert_bootstrapped(az: LocalAzure, cluster_id: str) -> None:
    """The `platform` profile fully applied, once: extension, identity, credentials, AcrPull, SSO, ledger."""
    issuer = issuer_of(az, cluster_id)
    [identity] = identities_of(az, cluster_id)
    assert identity["tags"]["managed-by"] == "argoboot"
    ext = az.arm.extension(cluster_id, "argocd")
    assert ext is not None and ext["properties"]["provisioningState"] == "Succeeded", ext
    assert ext["properties"]["extensionType"].lower() == "microsoft.argocd"
    settings = ext["properties"]["configurationSettings"]
    assert settings["azure.workloadIdentity.clientId"] == identity["properties"]["clientId"]
    credentials = {c["name"]: (c["properties"]["issuer"], c["properties"]["subject"])
                   for c in az.arm.federated_credentials(identity["id"])}
    assert credentials == {f"argoboot-{sa}": (issuer, f"system:serviceaccount:argocd:{sa}") for sa in SERVICE_ACCOUNTS}
    [assignment] = [a for a in az.arm.role_assignments(REGISTRY)
                    if a["properties"]["principalId"] == identity["properties"]["principalId"]]
    [sso] = sso_credentials_of(az, issuer)
    assert sso["subject"] == "system:serviceaccount:argocd:argocd-server"

    rec = record(az, cluster_id)
    assert (rec.phase, rec.waiting_on, rec.last_error_code, rec.waiters) == ("succeeded", None, None, ()), rec
    assert rec.intent == "installed" and rec.profile == "platform"
    owned = {identity["id"], assignment["id"], ext["id"],
             *(f"{identity['id']}/federatedIdentityCredentials/argoboot-{sa}" for sa in SERVICE_ACCOUNTS)}
    graph = [c for c in rec.created if c.startswith("graph:")]
    # The ledger knows all it owns and nothing else (ARM ids compare in any casing).
    assert {c.lower() for c in rec.created if c not in graph} == {o.lower() for o in owned}, rec.created
    assert [g.rsplit("/", 1)[1] for g in graph] == [sso["id"]], graph


def assert_removed(az: LocalAzure, cluster_id: str, phase: str = "uninstalled", issuer: str | None = None) -> None:
    """Nothing the service created for the cluster is left in Azure, and the ledger says so."""
    assert az.arm.extension(cluster_id, "argocd") is None
    assert identities_of(az, cluster_id) == []
    assert az.arm.role_assignments(REGISTRY) == []
    if issuer is not None:
        assert sso_credentials_of(az, issuer) == []
    rec = record(az, cluster_id)
    assert (rec.phase, rec.intent, rec.created, rec.waiters) == (phase, "absent", (), ()), rec


def creations(az: LocalAzure) -> Counter[str]:
    """Resources created, by path (Graph creates by POST to a collection: keyed by the credential's name too)."""
    counted: Counter[str] = Counter()
    for r in az.arm.requests:
        if r.status == 201:
            name = r.body.get("name") if r.method == "POST" and isinstance(r.body, dict) else None
            counted[r.path.lower() + (f"#{name}" if name else "")] += 1
    return counted


def assert_nothing_created_twice(az: LocalAzure) -> None:
    twice = {path: n for path, n in creations(az).items() if n > 1}
    assert twice == {}, twice


def assert_replied_once(az: LocalAzure, expected: dict[str, str | set[str]]) -> list[dict[str, Any]]:
    """Every requester got exactly one reply (request id -> outcome, or the outcomes it may be)."""
    got = replies(az)
    assert Counter(r["requestId"] for r in got) == Counter(expected.keys()), got
    for reply in got:
        want = expected[reply["requestId"]]
        assert reply["outcome"] in ({want} if isinstance(want, str) else want), reply
    return got


def assert_requests_terminal(az: LocalAzure, request_ids: list[str]) -> None:
    for request_id in request_ids:
        row = az.services.ledger.get_request(request_id)
        assert row is not None and row.status in TERMINAL, (request_id, row)


def assert_clean_bus(az: LocalAzure, *, errors: int = 0) -> None:
    assert len(az.bus.errors) == errors, az.bus.errors
    assert az.bus.dead_letters(QUEUE) == [] and az.bus.dead_letters(WORK) == []
    assert az.bus.messages(QUEUE) == [] and az.bus.messages(WORK) == []
