"""Where a cluster's managed identity goes: IDENTITY_RESOURCE_GROUP, resolved per cluster.

The setting is a comma-separated list. An entry is a group name (in the cluster's own subscription), a full
resource group id (that group, whatever the cluster's subscription), or `<subscription>=<name or id>` for the
clusters of one subscription. At most one entry is not keyed by a subscription: it applies to the rest.
Unset (or no entry for the cluster): the cluster's own group.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from shared.bootstrap.cluster_ids import ClusterRef

SETTING = "IDENTITY_RESOURCE_GROUP"
_GUID = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
_GROUP_ID = re.compile(rf"^/subscriptions/({_GUID})/resourceGroups/([-\w._()]{{1,90}})/?$", re.IGNORECASE)
_GROUP_NAME = re.compile(r"^[-\w._()]{1,90}$")


class PlacementError(ValueError):
    """The setting is malformed; the message says which entry and how to write it."""


@dataclass(frozen=True)
class Home:
    """A resource group in a subscription; `configured` is False for the cluster's own group."""

    subscription: str
    resource_group: str
    configured: bool = True


@dataclass(frozen=True)
class IdentityPlacement:
    default: tuple[str | None, str] | None = None  # (subscription or None: the cluster's, group)
    by_subscription: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    raw: str = ""

    @classmethod
    def parse(cls, raw: str | None) -> IdentityPlacement:
        default: tuple[str | None, str] | None = None
        keyed: dict[str, tuple[str | None, str]] = {}
        for entry in (part.strip() for part in (raw or "").split(",") if part.strip()):
            key, sep, value = entry.partition("=")
            target = _target(value if sep else key, entry)
            if sep:
                if not re.fullmatch(_GUID, key.strip()):
                    raise PlacementError(f"app setting {SETTING}: in {entry!r}, {key.strip()!r} is not a subscription "
                                         "id; write <subscription id>=<group name or resource group id>")
                keyed[key.strip().lower()] = target
            elif default is not None:
                raise PlacementError(f"app setting {SETTING}: {entry!r} is a second entry without a subscription; "
                                     "key all but one of them as <subscription id>=<group>")
            else:
                default = target
        return cls(default=default, by_subscription=keyed, raw=raw or "")

    def home(self, cluster: ClusterRef) -> Home:
        target = self.by_subscription.get(cluster.subscription) or self.default
        if target is None:
            return Home(cluster.subscription, cluster.resource_group, configured=False)
        subscription, group = target
        return Home(subscription or cluster.subscription, group)

    def fix(self, cluster: ClusterRef) -> str:
        """How to point this cluster's subscription elsewhere, for error messages."""
        return (f"set {SETTING} to a full resource group id (/subscriptions/<subscription>/resourceGroups/<group>) "
                f"or add an entry {cluster.subscription}=<group> for this subscription (now: {self.raw!r})")


def _target(value: str, entry: str) -> tuple[str | None, str]:
    value = value.strip()
    full = _GROUP_ID.match(value)
    if full:
        return full.group(1).lower(), full.group(2)
    if _GROUP_NAME.match(value):
        return None, value
    raise PlacementError(f"app setting {SETTING}: {entry!r} is neither a resource group name nor a resource group id "
                         "(/subscriptions/<subscription>/resourceGroups/<group>)")
