"""The api-versions each resource type offers, and ARM's refusal of a missing, malformed or unoffered one.

ARM routes every request by `api-version` before a resource provider sees it: none is 400
`MissingApiVersionParameter`; a malformed one is 400 `InvalidApiVersionParameter`; a well-formed one that
the type does not offer is 400 `InvalidApiVersionParameter` for ARM's own types (subscriptions, resource
groups, providers) and 400 `NoRegisteredProviderFound` for a provider's, both listing the supported
versions. The lists hold versions the Azure REST specs publish for each type (its readme tags), newest first;
the providers' GET bodies list the same ones. tests/contract/test_azure_contract.py checks every list against
Microsoft's published table (../shared/reference/azure-contract/api-versions.md), so a test cannot pass here on a
version Azure would refuse.
"""

from __future__ import annotations

import re

from localazure.arm.request import ArmError, Call

#: Microsoft.Resources' own types: the resources readme (providers, resource groups, resources) ...
_RESOURCES_API = (
    "2025-04-01", "2025-03-01", "2024-11-01", "2024-07-01", "2024-03-01", "2023-07-01", "2022-09-01", "2021-04-01",
    "2021-01-01", "2020-10-01", "2020-08-01", "2020-06-01", "2019-10-01", "2019-08-01", "2019-07-01", "2019-05-10",
    "2019-05-01", "2019-03-01", "2018-05-01", "2018-02-01", "2017-05-10", "2016-09-01", "2016-07-01", "2016-02-01",
    "2015-11-01",
)  # fmt: skip
#: ... and the subscriptions readme (subscriptions, tenants, locations).
_SUBSCRIPTIONS_API = (
    "2022-12-01", "2021-01-01", "2020-01-01", "2019-11-01", "2019-06-01", "2018-06-01", "2016-06-01", "2015-11-01",
)  # fmt: skip

_AKS_API = (
    "2026-06-01", "2026-01-01", "2025-10-01", "2025-08-01", "2025-07-01", "2025-05-01", "2025-03-01",
    "2025-01-01", "2024-10-01", "2024-09-01", "2024-08-01", "2024-07-01", "2024-05-01", "2024-02-01",
    "2024-01-01", "2023-11-01", "2023-10-01", "2023-09-01", "2023-08-01", "2023-07-01", "2023-06-01",
    "2023-05-01", "2023-04-01", "2023-03-01", "2023-02-01", "2023-01-01", "2022-11-01", "2022-09-01",
    "2022-07-01", "2022-06-01", "2022-04-01", "2022-03-02-preview", "2022-03-01",
    "2022-02-01", "2022-01-01", "2021-10-01", "2021-08-01", "2021-05-01", "2021-03-01", "2021-02-01",
)  # fmt: skip

#: Every version the hybridkubernetes readme publishes (default 2026-05-01; 2026-03-01 was a draft, never published).
_ARC_API = (
    "2026-05-01", "2026-02-01-preview", "2025-12-01-preview", "2025-08-01-preview", "2024-12-01-preview",
    "2024-07-15-preview", "2024-07-01-preview", "2024-06-01-preview", "2024-02-01-preview", "2024-01-01",
    "2023-11-01-preview", "2022-10-01-preview", "2022-05-01-preview", "2021-10-01", "2021-04-01-preview", "2021-03-01",
    "2020-01-01-preview",
)  # fmt: skip

#: The extension-types versions that serve `locations/{region}/extensionTypes/{type}/versions` with its filters
#: (2026-05-01 from the extension-types readme; 2024-11-01-preview and 2023-05-01-preview also on the specs' main).
_EXTENSION_TYPES_API = ("2026-05-01", "2024-11-01-preview", "2023-05-01-preview")

_EXTENSIONS_API = (
    "2025-03-01", "2024-11-01", "2023-05-01", "2022-11-01", "2022-07-01", "2022-03-01", "2021-09-01",
    "2020-07-01-preview",
)  # fmt: skip

_MSI_API = (
    "2025-05-31-preview", "2025-01-31-preview", "2024-11-30", "2023-07-31-preview", "2023-01-31", "2022-01-31-preview",
    "2021-09-30-preview", "2018-11-30", "2015-08-31-preview",
)  # fmt: skip

_AUTHORIZATION_API = (
    "2022-04-01", "2020-10-01-preview", "2020-08-01-preview", "2020-04-01-preview",
    "2020-03-01-preview", "2018-09-01-preview", "2018-01-01-preview", "2017-10-01-preview", "2015-07-01",
)  # fmt: skip

#: Microsoft.ContainerRegistry/registries (bicep-types-az's list; roleAssignmentMode from 2025-05-01-preview).
_ACR_API = (
    "2025-05-01-preview", "2025-04-01", "2025-03-01-preview", "2024-11-01-preview", "2023-11-01-preview",
    "2023-08-01-preview", "2023-07-01", "2023-06-01-preview", "2023-01-01-preview", "2022-12-01", "2021-09-01",
    "2019-05-01",
)  # fmt: skip

#: Microsoft.ResourceGraph's query API (POST /providers/Microsoft.ResourceGraph/resources; resourcegraph readme).
_RESOURCE_GRAPH_API = (
    "2024-04-01", "2023-09-01-preview", "2022-10-01", "2021-06-01-preview", "2021-03-01", "2020-04-01-preview",
    "2019-04-01", "2018-09-01-preview",
)  # fmt: skip

#: (namespace, resource type), lower-cased -> the api-versions it offers.
SUPPORTED: dict[tuple[str, str], tuple[str, ...]] = {
    **{("microsoft.resources", t): _RESOURCES_API for t in ("resourcegroups", "providers", "resources")},
    **{("microsoft.resources", t): _SUBSCRIPTIONS_API for t in ("subscriptions", "tenants")},
    ("microsoft.containerservice", "managedclusters"): _AKS_API,
    ("microsoft.kubernetes", "connectedclusters"): _ARC_API,
    ("microsoft.kubernetesconfiguration", "extensions"): _EXTENSIONS_API,
    ("microsoft.kubernetesconfiguration", "extensions/operations"): _EXTENSIONS_API,
    ("microsoft.kubernetesconfiguration", "locations/extensiontypes/versions"): _EXTENSION_TYPES_API,
    ("microsoft.managedidentity", "userassignedidentities"): _MSI_API,
    ("microsoft.managedidentity", "userassignedidentities/federatedidentitycredentials"): _MSI_API[:6],
    ("microsoft.authorization", "roleassignments"): _AUTHORIZATION_API,
    ("microsoft.containerregistry", "registries"): _ACR_API,
    ("microsoft.resourcegraph", "resources"): _RESOURCE_GRAPH_API,
}

# The other extension-types routes (by region, L1-L4, and by cluster, C1-C4) at the same versions (§3b; the
# cluster's version routes check theirs in `extension_type_catalog`).
SUPPORTED.update({("microsoft.kubernetesconfiguration", t): _EXTENSION_TYPES_API
                  for t in ("locations/extensiontypes", "extensiontypes")})

_WELL_FORMED = re.compile(r"^\d{4}-\d{2}-\d{2}(-(preview|privatepreview|alpha|beta))?$", re.IGNORECASE)


#: Actions (POST `<resource>/<action>`) the service sends: addressed at their resource's type and versions.
_ACTIONS = {"listclusterusercredential"}


def addressed_type(segments: list[str]) -> tuple[str, str] | None:
    """The (namespace, type) a path addresses, as sent (ARM's own types lower-cased), or None if ARM routes no
    such path."""
    lower = [s.lower() for s in segments]
    match lower:
        case ["subscriptions"] | ["subscriptions", _]:
            return ("microsoft.resources", "subscriptions")
        case ["tenants"]:
            return ("microsoft.resources", "tenants")
        case ["subscriptions", _, "resourcegroups"] | ["subscriptions", _, "resourcegroups", _]:
            return ("microsoft.resources", "resourcegroups")
        case ["subscriptions", _, "providers"] | ["subscriptions", _, "providers", _] | \
                ["subscriptions", _, "providers", _, "register"]:  # fmt: skip
            return ("microsoft.resources", "providers")
        case ["subscriptions", _, "resources"] | ["subscriptions", _, "resourcegroups", _, "resources"]:
            return ("microsoft.resources", "resources")
    providers = [i for i, segment in enumerate(lower) if segment == "providers" and i + 2 < len(lower)]
    if not providers:
        return None
    i = providers[-1]
    if len(lower) - i > 4 and lower[-1] in _ACTIONS:  # a POST on a resource: its type's api-versions
        segments = segments[:-1]
    return (segments[i + 1], "/".join(segments[i + 2 :: 2]))


def supported_versions(namespace: str, type_name: str) -> tuple[str, ...]:
    """What a provider's GET body lists for one of its types (case-insensitive); () when unknown here."""
    return SUPPORTED.get((namespace.lower(), type_name.lower()), ())


def check_api_version(call: Call) -> None:
    """Refuse the request as ARM does when its api-version is missing, malformed or not offered by its type."""
    version = call.api_version
    if not version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    addressed = addressed_type(call.segments)
    offered = SUPPORTED.get((addressed[0].lower(), addressed[1].lower())) if addressed is not None else None
    if addressed is None or offered is None or version.lower() in offered:
        return  # a path no route knows: its route answers (404)
    listed = ", ".join(offered)
    if addressed[0] == "microsoft.resources" or not _WELL_FORMED.match(version):
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are '{listed}'.",
        )
    raise ArmError(
        400,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location 'eastus' and API version '{version}' for type "
        f"'{addressed[1].split('/')[-1]}'. The supported api-versions are '{listed}'. The supported locations "
        "are 'eastus, westeurope'.",
    )
