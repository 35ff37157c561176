"""Which clusters the service may act on: the subscriptions (and optionally resource groups) in its settings.

Checked for every event, request and sweep before anything else, so a cluster outside the scope is
never read or touched, and whoever asked learns exactly which setting keeps it out.
"""
from __future__ import annotations

from collections.abc import Mapping

from shared.bootstrap.cluster_ids import ClusterRef, canonical_group
from shared.settings import Settings


def out_of_scope(cluster: ClusterRef, settings: Settings) -> tuple[str, str] | None:
    """(reason, description) when the cluster is outside the scope, else None."""
    if cluster.subscription not in settings.allowed_subscriptions:
        return ("SubscriptionNotAllowed", f"subscription {cluster.subscription} is not in ALLOWED_SUBSCRIPTIONS; "
                "ask the platform team to onboard it")
    groups = settings.allowed_resource_groups.get(cluster.subscription)
    if groups is not None and canonical_group(cluster.resource_group) not in groups:  # one canonical form
        return ("ResourceGroupNotAllowed", f"resource group {cluster.resource_group} of subscription "
                f"{cluster.subscription} is not in ALLOWED_RESOURCE_GROUPS; ask the platform team to add it")
    return None


def opted_in(tags: Mapping[str, str], settings: Settings) -> bool:
    """The cluster's opt tag (OPT_TAG) says on/true/in or off/false/out; absent or other: OPT_DEFAULT."""
    value = next((v for k, v in tags.items() if k.lower() == settings.opt_tag.lower()), "").strip().lower()
    if value in ("on", "true", "in", "yes"):
        return True
    if value in ("off", "false", "out", "no"):
        return False
    return settings.opt_in_by_default
