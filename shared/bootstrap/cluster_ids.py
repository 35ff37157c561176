"""Which resources are clusters we bootstrap, and how to name them.

Resource ids arrive in many casings (`resourcegroups`, `ManagedClusters`, `ConnectedClusters`);
everything here compares case-insensitively and keys on the lower-cased id, which is also the
Service Bus session id that serialises work per cluster.

One grammar, `parse_cluster_id`, is what every entry point accepts: ASCII only and ASCII-case-insensitive only
(a Kelvin sign is not a `K`, so no reader can fold a look-alike into a provider name), except the resource group,
which follows Azure's rule: Unicode letters and digits, `-`, `_`, `.`, `(`, `)`, 1-90 characters, not ending with
a dot (so no segment a URL would collapse, `.` or `..`). A group is passed to ARM as it came and compared in one
canonical form (`canonical_group`: NFC, case-folded), so `rg-café` in any casing or normal form is one group while
a Cyrillic look-alike is another. `CLUSTER_ID_PATTERN` (published in `schemas/install-request.v1.schema.json`) is
the ASCII subset: a JSON Schema pattern cannot say "Unicode letter" in a way every validator reads alike.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from shared.untrusted import echo, shown

ClusterKind = Literal["aks", "arc"]

# (namespace, type) as ARM spells them, by kind.
CLUSTER_TYPES: dict[ClusterKind, tuple[str, str]] = {
    "aks": ("Microsoft.ContainerService", "managedClusters"),
    "arc": ("Microsoft.Kubernetes", "connectedClusters"),
}
_KIND_BY_TYPE = {f"{ns}/{t}".lower(): kind for kind, (ns, t) in CLUSTER_TYPES.items()}

GUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: 1-90 characters, not ending with '.' (Azure's rule, which also keeps out the segments '.' and '..').
RESOURCE_GROUP_PATTERN = "[-A-Za-z0-9._()]{0,89}[-A-Za-z0-9_()]"
CLUSTER_NAME_PATTERN = "[a-zA-Z0-9]|[a-zA-Z0-9][-_a-zA-Z0-9]{0,61}[a-zA-Z0-9]"
RESOURCE_GROUP_RULE = "1-90 letters or digits (Unicode ones too), '-', '_', '.', '(' or ')', not ending with '.'"
_GROUP_PUNCTUATION = frozenset("-_.()")
_LETTERS_AND_DIGITS = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})


def is_resource_group(name: object) -> bool:
    """Azure's rule for resource group names (read in NFC, so a decomposed `é` is the letter it composes to)."""
    if not isinstance(name, str):
        return False
    text = unicodedata.normalize("NFC", name)
    return 1 <= len(text) <= 90 and not text.endswith(".") and all(
        ch in _GROUP_PUNCTUATION or unicodedata.category(ch) in _LETTERS_AND_DIGITS for ch in text)


def canonical_group(name: str) -> str:
    """The one form two spellings of a resource group are compared in (ledger keys, sessions, allowlists): NFC,
    case-folded. The same as `.lower()` for ASCII names."""
    return unicodedata.normalize("NFC", name).casefold()


def _any_case(word: str) -> str:
    """`word` as a regex matching it in any ASCII casing, without flags (JSON Schema patterns have none)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


#: The cluster ids the service accepts (trailing slashes allowed), as published in schemas/.
CLUSTER_ID_PATTERN = (
    f"^/{_any_case('subscriptions')}/{GUID_PATTERN}/{_any_case('resourceGroups')}/{RESOURCE_GROUP_PATTERN}"
    f"/{_any_case('providers')}/({_any_case('Microsoft.ContainerService/managedClusters')}"
    f"|{_any_case('Microsoft.Kubernetes/connectedClusters')})/({CLUSTER_NAME_PATTERN})/*$")

_CLUSTER_NAME = re.compile(CLUSTER_NAME_PATTERN, re.ASCII)
_GUID = re.compile(GUID_PATTERN, re.ASCII)
_CLUSTER_ID = re.compile(CLUSTER_ID_PATTERN.removesuffix("$") + r"\Z", re.ASCII)


class InvalidClusterId(ValueError):
    """The text is not the resource id of an AKS or Arc cluster; the message says which part is wrong."""


@dataclass(frozen=True)
class ClusterRef:
    """An AKS managed cluster or an Arc connected cluster, identified by subscription, group and name."""

    subscription: str
    resource_group: str
    kind: ClusterKind
    name: str

    @property
    def namespace(self) -> str:
        return CLUSTER_TYPES[self.kind][0]

    @property
    def resource_type(self) -> str:
        return CLUSTER_TYPES[self.kind][1]

    @property
    def id(self) -> str:
        """The canonical ARM id (Azure's documented casing)."""
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/{self.namespace}/{self.resource_type}/{self.name}")

    @property
    def key(self) -> str:
        """Lower-cased id (the group in its canonical form): the ledger key, the thing two casings of one cluster
        share."""
        rest = f"/providers/{self.namespace}/{self.resource_type}/{self.name}".lower()
        return f"/subscriptions/{self.subscription}/resourcegroups/{canonical_group(self.resource_group)}{rest}"

    @property
    def session_id(self) -> str:
        """The Service Bus session of the cluster's messages (see `session_id_of`)."""
        return session_id_of(self.key)

    def __str__(self) -> str:
        return self.id


MAX_SESSION_ID = 128  # Service Bus' limit (azure-servicebus refuses a longer SessionId)


def session_id_of(cluster_key: str) -> str:
    """The session id for a lower-cased cluster id: the id itself, or, when it is longer than Service Bus' 128
    characters (most are: a 90-character group and a 63-character name fit in no session id), `cluster-` and the
    id's SHA-256 in hex. Senders compute the same (docs/integration.md) so one cluster's messages share a session."""
    if len(cluster_key) <= MAX_SESSION_ID:
        return cluster_key
    return "cluster-" + hashlib.sha256(cluster_key.encode()).hexdigest()


@dataclass(frozen=True)
class ListedCluster:
    """A cluster as a subscription-wide list shows it: enough to decide whether it needs a reconcile."""

    ref: ClusterRef
    tags: dict[str, str]


def cluster_kind_of(resource_id: str) -> ClusterKind | None:
    """The kind when `resource_id` names a cluster itself (not a child such as an agent pool), else None."""
    try:
        return parse_cluster_id(resource_id).kind
    except InvalidClusterId:
        return None


def parse_cluster_id(resource_id: str) -> ClusterRef:
    """Parse and validate a cluster resource id, whatever its ASCII casing; the error names the part that is wrong."""
    from azure.mgmt.core.tools import parse_resource_id  # imported on first use: keeps indexing fast

    if not isinstance(resource_id, str) or not resource_id.strip():
        raise InvalidClusterId("clusterResourceId is empty; expected "
                               "/subscriptions/<id>/resourceGroups/<group>/providers/"
                               "Microsoft.ContainerService/managedClusters/<name> (or an Arc connectedClusters id)")
    quoted = echo(resource_id)
    segments = resource_id.split("/")
    group_at = 4 if len(segments) > 4 and segments[3].lower() == "resourcegroups" else -1
    # Before any case-insensitive matching: only ASCII may be folded. The group is Azure's own rule, below.
    odd = next((sum(len(s) + 1 for s in segments[:n]) + i for n, segment in enumerate(segments) if n != group_at
                for i, ch in enumerate(segment) if not " " < ch < "\x7f"), None)
    if odd is not None:
        raise InvalidClusterId(f"'{quoted}' has {shown(resource_id[odd])} (U+{ord(resource_id[odd]):04X}) at position "
                               f"{odd}: an ARM id of a cluster "
                               "is printable ASCII (no spaces, no control characters, no look-alike letters)")
    text = resource_id.rstrip("/")  # no other leniency: schemas/install-request.v1.schema.json says the same
    parts = {k: str(v) for k, v in parse_resource_id(text).items() if v is not None}
    subscription = parts.get("subscription") or ""
    if not _GUID.fullmatch(subscription):
        raise InvalidClusterId(f"'{quoted}' does not start with /subscriptions/<subscription GUID>")
    group = parts.get("resource_group") or ""
    if group_at < 0 or group != segments[group_at] or not is_resource_group(group):
        raise InvalidClusterId(f"'{quoted}' has no valid resourceGroups/<name> segment: {shown(group)} is not "
                               f"{RESOURCE_GROUP_RULE}")
    full_type = f"{parts.get('namespace') or ''}/{parts.get('type') or ''}".lower()
    kind = _KIND_BY_TYPE.get(full_type)
    if kind is None:
        raise InvalidClusterId(
            f"'{quoted}' is a {echo(full_type.strip('/')) or 'non-resource'} id; expected "
            "Microsoft.ContainerService/managedClusters or Microsoft.Kubernetes/connectedClusters")
    if parts.get("children"):
        raise InvalidClusterId(f"'{quoted}' names a child resource of a cluster, not the cluster itself")
    name = parts.get("name") or ""
    if not _CLUSTER_NAME.fullmatch(name):
        raise InvalidClusterId(f"'{echo(name)}' is not a valid cluster name (1-63 ASCII letters, digits, '-' and "
                               "'_', starting and ending with a letter or digit)")
    ascii_form = "/".join("rg" if n == group_at else s for n, s in enumerate(segments))
    if not _CLUSTER_ID.match(ascii_form):  # anything the lenient parser let through (e.g. '//' inside)
        raise InvalidClusterId(f"'{quoted}' is not of the form /subscriptions/<id>/resourceGroups/<group>/providers/"
                               "Microsoft.ContainerService/managedClusters/<name> (or an Arc connectedClusters id)")
    return ClusterRef(subscription=subscription.lower(), resource_group=group, kind=kind, name=name)


@dataclass(frozen=True)
class ResourceId:
    """Any top-level ARM resource id (e.g. a container registry), validated like a cluster id."""

    id: str
    subscription: str
    resource_group: str
    namespace: str
    resource_type: str
    name: str


def parse_resource_id(resource_id: str) -> ResourceId:
    """Parse /subscriptions/<guid>/resourceGroups/<g>/providers/<ns>/<type>/<name>; raise InvalidClusterId."""
    from azure.mgmt.core.tools import is_valid_resource_id
    from azure.mgmt.core.tools import parse_resource_id as parse

    text = resource_id.strip().rstrip("/") if isinstance(resource_id, str) else ""
    if not is_valid_resource_id(text):
        raise InvalidClusterId(f"'{resource_id}' is not an ARM resource id")
    parts = {k: str(v) for k, v in parse(text).items() if v is not None}
    if not _GUID.fullmatch(parts.get("subscription") or ""):
        raise InvalidClusterId(f"'{resource_id}' does not start with /subscriptions/<subscription GUID>")
    if parts.get("children") or not all(parts.get(k) for k in ("resource_group", "namespace", "type", "name")):
        raise InvalidClusterId(f"'{resource_id}' is not the id of a top-level resource in a resource group")
    return ResourceId(id=text, subscription=parts["subscription"].lower(), resource_group=parts["resource_group"],
                      namespace=parts["namespace"], resource_type=parts["type"], name=parts["name"])
