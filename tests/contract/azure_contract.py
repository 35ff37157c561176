"""Microsoft's published contract as data, read from the reference beside the project (`../shared/reference/
azure-contract/`): the api-versions each resource type publishes, the RBAC operations Azure accepts, and the
built-in roles' fixed ids. The files are snapshots of the REST specs and the docs (their README says of which
commits); docs/azure-contract.md says how they are refreshed. Parsing assumes their table layout: a `## N.` section
per provider (or `### 3a.` sub-section), tables whose header names an `api-version` column, and backquoted names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT.parent / "shared" / "reference" / "azure-contract"
MISSING = f"the Azure contract reference is not beside the project ({CONTRACT} is absent)"

_VERSION = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:-preview)?\b")
_MONTHS = re.compile(r"(\d{4})-(\d{2}) back to \1-(\d{2}): each month has a `-01` stable and a `-02-preview`"
                     r"(?: \(no \1-(\d{2})\))?")
_GUID = re.compile(r"`([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`")

#: Section (its number in api-versions.md) -> the resource types (lower-cased `namespace/type`) its rows publish.
_SECTION_TYPES = {
    "1": ("microsoft.kubernetes/connectedclusters",),
    "2": ("microsoft.containerservice/managedclusters",),
    "3a": ("microsoft.kubernetesconfiguration/extensions", "microsoft.kubernetesconfiguration/extensions/operations"),
    "3b": ("microsoft.kubernetesconfiguration/locations/extensiontypes/versions",
           "microsoft.kubernetesconfiguration/locations/extensiontypes",
           "microsoft.kubernetesconfiguration/extensiontypes"),
    "4": ("microsoft.managedidentity/userassignedidentities",),
    "7": ("microsoft.resourcegraph/resources",),
}
#: Section 6's two readmes, by a word of their first cell.
_RESOURCES_README = {
    "resources/readme.md": ("providers", "resourcegroups", "resources", "deployments", "tags"),
    "subscriptions/readme.md": ("subscriptions", "tenants", "locations"),
}


@dataclass(frozen=True)
class Table:
    section: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _tables(text: str) -> list[Table]:
    tables, section, lines = [], "", text.splitlines()
    i = 0
    while i < len(lines):
        heading = re.match(r"^#{2,3} (\d+[a-z]?)\.", lines[i])
        if heading:
            section = heading.group(1)
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|$", lines[i + 1]):
            header = tuple(_cells(lines[i]))
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(tuple(_cells(lines[i])))
                i += 1
            tables.append(Table(section, header, tuple(rows)))
            continue
        i += 1
    return tables


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _versions(cell: str) -> set[str]:
    found = set(_VERSION.findall(re.sub(r"\bat \d{4}-\d{2}-\d{2}", "", cell)))  # "not yet on main at <date>"
    months = _MONTHS.search(cell)
    if months:
        year, high, low, gap = months.group(1), int(months.group(2)), int(months.group(3)), months.group(4)
        for month in range(low, high + 1):
            if gap is None or month != int(gap):
                found |= {f"{year}-{month:02d}-01", f"{year}-{month:02d}-02-preview"}
    return found


#: Types the reference does not cover yet, with the published versions the service may send and where they are
#: published (add the type to api-versions.md at its next refresh, then drop it here).
NOT_IN_REFERENCE: dict[str, tuple[set[str], str]] = {
    "microsoft.containerregistry/registries": (
        {"2025-05-01-preview", "2025-04-01", "2025-03-01-preview", "2024-11-01-preview", "2023-11-01-preview",
         "2023-08-01-preview", "2023-07-01", "2023-06-01-preview", "2023-01-01-preview", "2022-12-01", "2021-09-01",
         "2019-05-01"},
        "Azure/azure-rest-api-specs specification/containerregistry/resource-manager/Microsoft.ContainerRegistry/"
        "ContainerRegistry/readme.md @ 28e6b59a: default tag package-2025-05-preview (the first with "
        "properties.roleAssignmentMode)"),
}


def published_api_versions() -> dict[str, set[str]]:
    """Lower-cased `namespace/type` -> every api-version a readme tag publishes for it (api-versions.md), and the
    types listed in NOT_IN_REFERENCE with their cited source."""
    published: dict[str, set[str]] = {t: set(versions) for t, (versions, _) in NOT_IN_REFERENCE.items()}

    def add(types: tuple[str, ...], versions: set[str]) -> None:
        for t in types:
            published.setdefault(t, set()).update(versions)

    for table in _tables((CONTRACT / "api-versions.md").read_text()):
        columns = [i for i, h in enumerate(table.header) if "api-version" in h.lower()]
        if not columns:
            continue  # evidence tables (what history holds), not what is published
        col = columns[0]
        for row in table.rows:
            versions = _versions(row[col])
            if table.section == "3b" and not row[2].lower().startswith("yes"):
                continue  # a version only in repository history (2026-04-01): not published
            if table.section in _SECTION_TYPES:
                add(_SECTION_TYPES[table.section], versions)
                if table.section == "4" and row[-1].lower().startswith("yes"):
                    add(("microsoft.managedidentity/userassignedidentities/federatedidentitycredentials",), versions)
            elif table.section == "5":  # Microsoft.Authorization: the first cell names the type
                add((f"microsoft.authorization/{row[0].lower()}",), versions)
            elif table.section == "6":
                readme = next((k for k in _RESOURCES_README if k in row[0]), None)
                if readme is not None:
                    add(tuple(f"microsoft.resources/{t}" for t in _RESOURCES_README[readme]), versions)
            elif table.section == "8":
                for name in re.findall(r"Microsoft\.\w+/[\w/]+", row[0].split("(")[0].replace(" and ", " ")):
                    add((name.lower(),), versions)
    return published


#: Operations the reference does not list yet, with where Microsoft publishes them (add them to operations.md at its
#: next refresh, then drop them here).
OPERATIONS_NOT_IN_REFERENCE = {
    "microsoft.containerregistry/registries/read":
        "MicrosoftDocs/azure-docs articles/role-based-access-control/permissions/containers.md: \"Gets the properties "
        "of the specified container registry or lists all the container registries ...\"",
}


def published_operations() -> set[str]:
    """Every RBAC operation operations.md lists (lower-cased; `a/b, /c` rows expand to one per suffix), and those in
    OPERATIONS_NOT_IN_REFERENCE with their cited source."""
    found: set[str] = set(OPERATIONS_NOT_IN_REFERENCE)
    for table in _tables((CONTRACT / "operations.md").read_text()):
        if not table.header or table.header[0].lower() != "operation":
            continue
        for row in table.rows:
            first, *more = [part.strip().strip("`") for part in row[0].split(",")]
            found.add(first.lower())
            base = first.rsplit("/", 1)[0]
            for suffix in more:
                found.add(f"{base}/{suffix.lstrip('/')}".lower() if suffix.startswith("/") else suffix.lower())
    return found


def builtin_roles() -> dict[str, str]:
    """Role name (lower-cased) -> its fixed role definition GUID (builtin-roles.md)."""
    roles = {}
    for table in _tables((CONTRACT / "builtin-roles.md").read_text()):
        if table.header[:2] != ("Role name", "GUID"):
            continue
        for row in table.rows:
            guid = _GUID.search(row[1])
            if guid:
                roles[row[0].lower()] = guid.group(1)
    return roles


def action_allowed(action: str, operations: set[str]) -> bool:
    """Whether a role's action names a published operation, or is a wildcard that matches at least one."""
    wanted = action.lower()
    if "*" not in wanted:
        return wanted in operations
    pattern = re.compile("^" + ".*".join(re.escape(part) for part in wanted.split("*")) + "$")
    return any(pattern.match(op) for op in operations)
