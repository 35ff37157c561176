"""Everything the service sends Azure, and the role it deploys, is what Microsoft publishes (the reference beside
the project, `../shared/reference/azure-contract/`; skipped with the reason when it is absent).

- every ARM request the gateway's SDK clients build, at the api-version they send by default or the service pins,
  addresses a resource type at a version api-versions.md publishes for it (captured by a transport that answers
  404, so no emulator takes part: the emulator's own beliefs are checked against the same table below);
- the emulator accepts only published versions, so a test cannot pass on a version Azure would refuse;
- every action, notAction and dataAction of the custom role is a published operation or a wildcard matching one;
- every built-in role id in code or infra/ is the one listed for its name.
"""
from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpResponse, HttpTransport

from localazure.arm.api_versions import SUPPORTED, addressed_type
from shared.azure.arm_gateway import ArmGateway
from shared.azure.resource_graph import RESOURCE_GRAPH_API_VERSION, ResourceGraphGateway
from shared.bootstrap.argocd_extension import ExtensionSpec, VersionPin
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.workload_identity import FederatedCredential, IdentityRef
from shared.pipeline.fleet_view import CLUSTERS_QUERY
from tests.contract.azure_contract import (
    CONTRACT,
    MISSING,
    ROOT,
    action_allowed,
    builtin_roles,
    published_api_versions,
    published_operations,
)

pytestmark = pytest.mark.skipif(not CONTRACT.is_dir(), reason=MISSING)

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
AKS = parse_cluster_id(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/a")
ARC = parse_cluster_id(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/c")
IDENTITY = IdentityRef(SUB, "rg", "id-a")
SCOPE = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr"
#: An argument for every parameter of the gateway's methods, by name (a new parameter fails the test until added).
ARGUMENTS: dict[str, Any] = {
    "subscription": SUB, "namespace": "Microsoft.KubernetesConfiguration", "location": "eastus",
    "extension_type": "Microsoft.ArgoCD", "release_train": "preview", "name": "argocd", "scope": SCOPE,
    "role_definition_id": "/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "principal_id": "00000000-0000-0000-0000-000000000001", "ref": IDENTITY, "settings": {"a": "b"},
    "protected": None, "pin": VersionPin("1.0.0"), "spec": ExtensionSpec(settings={"a": "b"}), "tags": {"t": "v"},
    "credential": FederatedCredential("fc", "https://issuer", "system:serviceaccount:argocd:x"),
    "registry": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr",
    "spoke": AKS,  # a spoke is an AKS cluster (a hub cannot reach an Arc one)
}
#: Role names in infra/ that builtin-roles.md does not list (their ids cannot be checked against it yet).
UNLISTED_ROLES = {"queuedatacontributor": "Storage Queue Data Contributor (the Functions host's queues)",
                  "tabledatareader": "Storage Table Data Reader (the workbook's reader)"}


class _Recording(HttpTransport):  # type: ignore[type-arg]
    """Keeps every request and answers 404 NotFound, as ARM would for a resource that is not there."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, request: Any, **kwargs: Any) -> HttpResponse:
        self.sent.append(request)
        return _NotFound(request)

    def open(self) -> None: ...
    def close(self) -> None: ...
    def __exit__(self, *args: Any) -> None: ...


class _NotFound(HttpResponse):
    def __init__(self, request: Any) -> None:
        super().__init__(request, None)
        self.status_code = 404
        self.reason = "Not Found"
        self.content_type = "application/json"
        self.headers = {"Content-Type": "application/json"}

    def body(self) -> bytes:
        return b'{"error": {"code": "ResourceNotFound", "message": "not here"}}'


class _Token:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("token", 4_102_444_800)


def _sent_by_the_gateway() -> Iterator[tuple[str, str]]:
    """(method name, URL) of every request every public gateway method sends, for an AKS and an Arc cluster."""
    transport = _Recording()
    gateway = ArmGateway(_Token(), endpoint="https://management.azure.com", retry_backoff=0)
    gateway._options.update(transport=transport, retry_total=0)  # the gateway's own client options
    for name, method in inspect.getmembers(ArmGateway, inspect.isfunction):
        if name.startswith("_"):
            continue
        params = list(inspect.signature(method).parameters)[1:]
        for cluster in (AKS, ARC):
            before = len(transport.sent)
            with contextlib.suppress(Exception):  # every answer is a 404: only the request matters here
                getattr(gateway, name)(*[cluster if p == "cluster" else ARGUMENTS[p] for p in params])
            assert len(transport.sent) > before, f"{name} sent no request"
            yield from ((name, str(r.url)) for r in transport.sent[before:])
    graph = ResourceGraphGateway(_Token(), endpoint="https://management.azure.com", retry_backoff=0)
    graph._options.update(transport=transport, retry_total=0)
    before = len(transport.sent)
    with contextlib.suppress(Exception):
        graph.query(CLUSTERS_QUERY, [SUB])
    assert len(transport.sent) == before + 1, "the Resource Graph query sent no request"
    yield ("ResourceGraphGateway.query", str(transport.sent[-1].url))


def _type_and_version(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    addressed = addressed_type(segments)
    assert addressed is not None, url
    version = {k.lower(): v for k, v in parse_qs(parts.query).items()}["api-version"][0]
    return f"{addressed[0]}/{addressed[1]}".lower(), version


def test_every_request_the_service_sends_uses_a_published_api_version() -> None:
    published = published_api_versions()
    seen, wrong = set(), []
    for method, url in _sent_by_the_gateway():
        resource_type, version = _type_and_version(url)
        seen.add(resource_type)
        if version not in published.get(resource_type, set()):
            wrong.append(f"{method}: {resource_type} at {version} ({url})")
    assert not wrong, "api-versions Microsoft does not publish for the type:\n" + "\n".join(wrong)
    assert {"microsoft.kubernetes/connectedclusters", "microsoft.containerservice/managedclusters",
            "microsoft.kubernetesconfiguration/locations/extensiontypes/versions",
            "microsoft.resourcegraph/resources"} <= seen


def test_resource_graph_versions_the_service_and_its_client_would_send_are_published() -> None:
    """The pinned version (the newest stable) and azure-mgmt-resourcegraph's own default (sent if the pin went)."""
    from azure.mgmt.resourcegraph._configuration import ResourceGraphClientConfiguration

    published = published_api_versions()["microsoft.resourcegraph/resources"]
    default = ResourceGraphClientConfiguration(_Token()).api_version
    assert RESOURCE_GRAPH_API_VERSION in published and default in published, (default, sorted(published))


def test_the_emulator_accepts_only_published_api_versions() -> None:
    published = published_api_versions()
    wrong = {f"{ns}/{t}": sorted(set(versions) - published.get(f"{ns}/{t}", set()))
             for (ns, t), versions in SUPPORTED.items()}
    assert {k: v for k, v in wrong.items() if v} == {}


def _role_permissions() -> dict[str, list[str]]:
    """Every action-like string of the custom roles (the cluster role and the identity role): the JSON's lists and the
    Bicep definitions' literals."""
    import json

    role = json.loads((ROOT / "infra" / "bootstrapper-role.json").read_text())
    found = {"actions": list(role["actions"]) + list(role["enableWorkloadIdentityOnClusters"]["actions"]) +
             list(role["identityRole"]["actions"])}
    bicep = (ROOT / "infra" / "modules" / "bootstrapper-role.bicep").read_text()
    for kind in ("notActions", "dataActions", "notDataActions"):
        listed = re.findall(rf"{kind}:\s*\[(.*?)\]", bicep, re.S)
        assert len(listed) == 2, f"{kind} missing from a role definition"
        found[kind] = [a for one in listed for a in re.findall(r"'([^']+)'", one)]
    return found


def test_the_custom_role_holds_only_published_operations() -> None:
    operations = published_operations()
    unknown = {kind: [a for a in actions if not action_allowed(a, operations)]
               for kind, actions in _role_permissions().items()}
    assert {k: v for k, v in unknown.items() if v} == {}, "Azure refuses a role definition with an unknown action"


def test_a_wildcard_counts_only_when_it_matches_a_published_operation() -> None:
    operations = published_operations()
    assert action_allowed("Microsoft.KubernetesConfiguration/*/read", operations)
    assert action_allowed("microsoft.kubernetes/connectedclusters/read", operations)  # Azure compares ignoring case
    assert not action_allowed("Microsoft.KubernetesConfiguration/locations/extensionTypes/versions/read", operations)
    assert not action_allowed("Microsoft.Nowhere/*", operations)


_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_NAMED = [re.compile(rf"(\w+)\s*[:=]\s*['\"]({_GUID})['\"]"),
          re.compile(rf"['\"]({_GUID})['\"]\s*//\s*([A-Za-z][\w ]*\w)")]


def _role_ids_in_code() -> list[tuple[str, str, str]]:
    """(file, name as written, GUID) for every role id the code or infra/ names."""
    found = []
    files = [p for d in ("shared", "handlers", "infra") for p in (ROOT / d).rglob("*") if p.suffix in
             (".py", ".bicep", ".json")]
    for path in files:
        for line in path.read_text().splitlines():
            for i, pattern in enumerate(_NAMED):
                for match in pattern.finditer(line):
                    name, guid = match.groups() if i == 0 else reversed(match.groups())
                    found.append((str(path.relative_to(ROOT)), name, guid))
    return found


def _normal(name: str) -> str:
    return re.sub(r"role$", "", re.sub(r"[^a-z0-9]", "", name.lower()))


def test_every_builtin_role_id_is_the_one_listed_for_its_name() -> None:
    listed = {_normal(name): guid for name, guid in builtin_roles().items()}
    named = _role_ids_in_code()
    assert len(named) >= 10, named  # the reader found the ids (a check that reads nothing cannot fail)
    wrong, unknown = [], []
    for path, name, guid in named:
        matches = {n: g for n, g in listed.items() if n.endswith(_normal(name))}
        if not matches:
            if _normal(name) not in UNLISTED_ROLES:
                unknown.append(f"{path}: {name} {guid}")
            continue
        if guid not in matches.values():
            wrong.append(f"{path}: {name} is {guid}; builtin-roles.md lists {sorted(matches.values())}")
    assert not wrong
    assert not unknown, "role ids builtin-roles.md does not list: add them there or to UNLISTED_ROLES with why"


def test_the_reference_parses() -> None:
    """The table layout the parser assumes still holds (a refresh that changes it fails here, not silently)."""
    published = published_api_versions()
    assert "2026-05-01" in published["microsoft.kubernetes/connectedclusters"]
    assert "2026-03-01" not in published["microsoft.kubernetes/connectedclusters"]
    assert "2026-04-01" not in published["microsoft.kubernetesconfiguration/locations/extensiontypes/versions"]
    assert "2024-11-01-preview" in published["microsoft.kubernetesconfiguration/locations/extensiontypes/versions"]
    assert "2023-05-01" in published["microsoft.containerservice/managedclusters"]  # from the month-range row
    assert "microsoft.kubernetesconfiguration/extensiontypes/read" in published_operations()
    assert builtin_roles()["acrpull"] == "7f951dda-4ed3-4680-a7ca-43fe172d538d"
    assert Path(CONTRACT / "README.md").is_file()
