"""No hidden side effects in the SDK: azure-mgmt-core's automatic provider registration is off in every ARM client the
service builds, so a subscription with unregistered providers gets no registration nobody asked for, and no handler
sleeps 10 s at a time waiting for one."""
from __future__ import annotations

import inspect

import pytest
from azure.mgmt.core.policies import ARMAutoResourceProviderRegistrationPolicy

from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.azure.arm_gateway import ArmGateway
from tests.e2e.helpers import RG, aks_id
from tests.e2e.test_lifecycle import ask

#: Every builder of the gateway's clients (whatever calls `self._client(`), found rather than listed.
CLIENTS = sorted(name for name, f in inspect.getmembers(ArmGateway, inspect.isfunction)
                 if name != "_client" and "self._client(" in inspect.getsource(f))


def _chain(client: object) -> list[object]:
    """The policies a request goes through, in order, following azure-core's `next` links."""
    pipeline = client._client._pipeline  # type: ignore[attr-defined]
    node, found = pipeline._impl_policies[0], []
    while node is not None:
        found.append(getattr(node, "_policy", node))
        node = getattr(node, "next", None)
    return found


class _Token:
    def get_token(self, *scopes: str, **kwargs: object) -> None:
        raise AssertionError("no request is sent")


def test_the_builders_are_found() -> None:
    assert set(CLIENTS) >= {"_resources", "_extensions", "_identities", "_authorization"}


@pytest.mark.parametrize("kind", CLIENTS)
def test_no_arm_client_the_gateway_builds_registers_providers_by_itself(kind: str) -> None:
    gateway = ArmGateway(_Token(), endpoint="https://management.azure.com")
    getattr(gateway, kind)(SUBSCRIPTION)
    [client] = gateway._clients.values()  # what the gateway built and keeps for the subscription
    chain = _chain(client)
    assert not any(isinstance(p, ARMAutoResourceProviderRegistrationPolicy) for p in chain), chain
    assert len(chain) > 5  # the rest of the pipeline is intact (auth, retries, logging, the transport)


def test_the_sdk_alone_would_register_providers() -> None:
    """What the gateway removes is there by default (so the test above can fail)."""
    from azure.mgmt.kubernetesconfiguration.v2023_05_01 import SourceControlConfigurationClient

    client = SourceControlConfigurationClient(_Token(), SUBSCRIPTION, base_url="https://management.azure.com")
    assert any(isinstance(p, ARMAutoResourceProviderRegistrationPolicy) for p in _chain(client))


def test_uninstall_with_unregistered_providers_registers_nothing(local_azure: LocalAzure) -> None:
    az = local_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-unreg")
    az.arm.set_provider(SUBSCRIPTION, "Microsoft.KubernetesConfiguration", "NotRegistered")
    az.arm.clear_log()

    reply = ask(az, aks_id("aks-unreg"), "r-unreg", action="uninstall")

    assert reply["outcome"] == "uninstalled", reply
    assert [f"{r.method} {r.path}" for r in az.arm.requests if r.method != "GET"] == []  # no register POST


def test_no_arm_client_is_built_outside_the_gateway() -> None:
    """The gateway's `_client` is where the policy is unlinked: a client built anywhere else would keep it."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    built = re.compile(r"\b(\w*ManagementClient|\w*ConfigurationClient|\w*IdentityClient|ARMPipelineClient)\(")
    files = [p for d in ("shared", "handlers", "argoboot_cli") for p in (root / d).rglob("*.py")]
    offenders = [str(p.relative_to(root)) for p in files if built.search(p.read_text())]
    assert offenders == []


def test_a_provider_azure_says_is_missing_is_registered_as_a_step_and_waited_for(platform_azure: LocalAzure) -> None:
    """Microsoft.ManagedIdentity is not among the providers a run registers up front; when Azure answers 409
    MissingSubscriptionRegistration for it, the run registers it itself (a step, visible) and waits: no request
    sleeps inside the SDK."""
    az = platform_azure
    az.arm.set_provider(SUBSCRIPTION, "Microsoft.ManagedIdentity", "NotRegistered")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-mi")

    reply = ask(az, aks_id("aks-mi"), "r-mi", profile="workload-identity")

    assert reply["outcome"] == "succeeded", (reply["error"], reply["steps"])
    assert any(s.startswith("registered provider Microsoft.ManagedIdentity") for s in reply["steps"]), reply["steps"]
    assert az.arm.count("POST", r"/providers/Microsoft\.ManagedIdentity/register$") >= 1
    assert [i for i in az.arm.identities() if i["tags"].get("managed-by") == "argoboot"]
