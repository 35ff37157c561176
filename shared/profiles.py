"""Configuration profiles: what an Argo CD installation should look like.

This first version knows the HA policy; workload identity, SSO and RBAC come with profile files.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.errors import RequestRejected

HaPolicy = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class Profile:
    """A named desired state for the Argo CD extension."""

    name: str
    ha: HaPolicy = "auto"


BUILTIN_PROFILES: dict[str, Profile] = {
    "default": Profile(name="default", ha="auto"),
    "single-node": Profile(name="single-node", ha="off"),
    "ha": Profile(name="ha", ha="on"),
}


def resolve_profile(requested: str | None, default: str) -> Profile:
    """The profile a request asked for (or the configured default); unknown names are refused."""
    name = requested or default
    try:
        return BUILTIN_PROFILES[name]
    except KeyError:
        raise RequestRejected("UnknownProfile", f"profile {name!r} does not exist; known profiles: "
                              f"{', '.join(sorted(BUILTIN_PROFILES))}") from None
