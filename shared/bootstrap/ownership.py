"""Whose Argo CD extension is it: the service's (it created or adopted it) or foreign (a person installed it).

Extensions carry no tags. The ledger records the extension's id among what the service created; where there
is no ledger (`argoboot run` without one) or the run that created it died before recording, the marker setting
the service writes into every extension it installs says so. The service changes a foreign extension only on
an explicit request to adopt it.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from shared.bootstrap.cluster_ids import ClusterRef

#: A configuration setting the argo-cd chart ignores (no such value), named so a person reading it understands.
MARKER_KEY = "argoboot.managedBy"
MARKER_VALUE = "argoboot"
_SHOWN = 80  # characters of a setting's value shown in steps


def extension_id(cluster: ClusterRef, name: str) -> str:
    return f"{cluster.id}/providers/Microsoft.KubernetesConfiguration/extensions/{name}"


def owned(cluster: ClusterRef, name: str, settings: Mapping[str, str], created: Iterable[str]) -> bool:
    """The ledger lists it as created (or adopted) by the service, or it carries the service's marker."""
    wanted = extension_id(cluster, name).lower()
    return any(item.lower() == wanted for item in created) or settings.get(MARKER_KEY) == MARKER_VALUE


def foreign_message(cluster: ClusterRef, name: str, extension_type: str) -> str:
    """Why a foreign extension is left alone, and the request or command that adopts it."""
    return (f"extension {name!r} ({extension_type}) on {cluster.name} was not created by the service (the ledger "
            f"has no record of it and it lacks the {MARKER_KEY} setting), so it is left as it is. To let the "
            'service take it over, send a request with "adopt": true, or run `argoboot run '
            f"{cluster.id} --adopt`; `argoboot plan {cluster.id} --adopt` shows what would change")


def changed_settings(before: Mapping[str, str], patch: Mapping[str, str | None]) -> list[str]:
    """`key: "old" -> "new"` for each setting a patch changes, values shortened, for steps and replies."""
    return [f"{key}: {_show(before.get(key))} -> {_show(patch[key])}" for key in sorted(patch)]


def _show(value: str | None) -> str:
    if value is None:
        return "(unset)"
    text = json.dumps(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 4] + '..."'
