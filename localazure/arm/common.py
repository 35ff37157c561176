"""What every resource family of the local ARM uses: the JSON type, ARM's timestamps, ids and not-found text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]


def iso(t: float) -> str:
    """ARM's timestamp format (seven fractional digits, `Z`)."""
    dt = datetime.fromtimestamp(t, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond * 10:07d}Z"


def new_guid() -> str:
    return str(uuid.uuid4())


def version_date(api_version: str) -> str:
    """The date part of an api-version (`2022-04-02-preview` -> `2022-04-02`), comparable as a string."""
    return api_version[:10]


def resource_key(subscription: str, resource_group: str, namespace: str, resource_type: str, name: str) -> str:
    """The case-insensitive identity of a resource: its canonical id, lower-cased."""
    path = f"/subscriptions/{subscription}/resourcegroups/{resource_group}/providers/{namespace}/{resource_type}/{name}"
    return path.lower()


def not_found_message(namespace: str, resource_type: str, name: str, resource_group: str) -> str:
    return (
        f"The Resource '{namespace}/{resource_type}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    )
