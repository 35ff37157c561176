"""What the service writes into an extension someone else installed, and what it keeps of theirs.

Adopting never destroys. Whether an installation is legacy is decided by its version (0.0.x), never by key names:
Microsoft's own tutorial installs version 1.0.0-preview with `config-maps.argocd-cmd-params-cm.data.*` keys
(`/work/shared/reference/argocd-2026.md`, section 1). A current-version extension is adopted by one PATCH that
migrates old-style keys (`config-maps.*`, the `workloadIdentity.*` duplicates of `azure.workloadIdentity.*`) to
the current ones and keeps every other setting the person made unless the profile sets that key. What it kept is
written into the extension (`KEPT_KEY`), so later runs keep it too; anything added by hand after that is drift.
Removing a 0.0.x installation deletes Argo CD's CRDs and every Application with them: only on an explicit request.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.bootstrap.chart_keys import LEGACY_CONFIG_MAPS, collides, helm_path
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.gitops import ROOT_KEY

if TYPE_CHECKING:
    from shared.bootstrap.argocd_extension import ExtensionSpec

#: The setting that lists (as a JSON array) the keys an adoption kept; the argo-cd chart has no such value.
KEPT_KEY = "argoboot.keptSettings"

#: Old-style keys and the current key each duplicates (the extension's docs dropped them on 2026-02-03).
_RENAMED = {
    "workloadIdentity.enable": "azure.workloadIdentity.enabled",
    "workloadIdentity.enabled": "azure.workloadIdentity.enabled",
    "workloadIdentity.clientId": "azure.workloadIdentity.clientId",
    "workloadIdentity.entraSSOClientId": "azure.workloadIdentity.entraSSOClientId",
    "deployWithHighAvailability": "redis-ha.enabled",
}


def is_legacy_version(version: str | None) -> bool:
    """0.0.x releases cannot be upgraded in place (Microsoft's path is uninstall, then install 1.x)."""
    return bool(version) and str(version).startswith("0.0.")


def current_key(key: str) -> str | None:
    """The current key an old-style key stands for, or None when `key` is not old-style."""
    if key in _RENAMED:
        return _RENAMED[key]
    parts = key.split(".", 3)
    if len(parts) == 4 and parts[0] == "config-maps" and parts[2] == "data" and parts[1] in LEGACY_CONFIG_MAPS:
        return f"{LEGACY_CONFIG_MAPS[parts[1]]}.{parts[3]}"
    return None


def kept_keys(installed: Mapping[str, str]) -> list[str]:
    """The keys an earlier adoption kept (an unreadable record keeps nothing: the profile's settings still win)."""
    try:
        kept = json.loads(installed.get(KEPT_KEY) or "[]")
    except ValueError:
        return []
    return [k for k in kept if isinstance(k, str)] if isinstance(kept, list) else []


def target_settings(installed: Mapping[str, str], desired: Mapping[str, str], *, adopting: bool) -> dict[str, str]:
    """Every setting the extension should hold: the profile's, plus what the person set that the profile does not
    (when adopting, or kept by an earlier adoption), old-style keys moved to their current names."""
    owned = [_path(k) for k in desired]

    def free(key: str) -> bool:  # the profile sets neither this value nor one it is part of
        return key != KEPT_KEY and not any(collides(_path(key), path) for path in owned)

    kept: dict[str, str] = {}
    for key in (installed if adopting else kept_keys(installed)):
        if key not in installed:
            continue
        new = current_key(key)
        if new is None and free(key):
            kept[key] = installed[key]
        elif new is not None and free(new) and new not in installed:
            kept[new] = installed[key]  # migrated: the value under its current name
    target = {**desired, **kept}
    if kept:
        target[KEPT_KEY] = json.dumps(sorted(kept), separators=(",", ":"))
    return target


def _path(key: str) -> tuple[str | int, ...]:
    """A key's chart path; a key outside the profile grammar (set by hand, read from ARM) is one opaque name."""
    try:
        return helm_path(key)
    except ValueError:
        return (key,)


def legacy_message(cluster: ClusterRef, version: str) -> str:
    """Why a 0.0.x extension is not removed without being asked, and how to ask."""
    return (f"extension argocd on {cluster.name} runs version {version}, a 0.0.x release that cannot be upgraded "
            "in place: Microsoft's path is to uninstall it and install 1.x. Uninstalling removes Argo CD's CRDs, and "
            "with them every Application, ApplicationSet and AppProject on the cluster. To do that, send the request "
            f'with "reinstall": true, or run `argoboot run {cluster.id} --reinstall`; `argoboot plan {cluster.id} '
            "--reinstall` shows it first")


def kept_text(installed: Mapping[str, str]) -> str:
    """The kept settings for the final line of a run (empty when none)."""
    kept = [k for k in kept_keys(installed) if k in installed]
    return f"; keeps {len(kept)} setting(s) the profile does not set (from adoption): {', '.join(kept)}" if kept \
        else ""


def patch_step(installed: Mapping[str, str], spec: ExtensionSpec, patch: Mapping[str, str | None],
               protected: bool, changed: bool) -> str:
    """How a PATCH reads in the steps: the root Application's first apply says so; secrets by label only (sent
    `changed` when new or rotated, or again because Azure drops protected settings an update leaves out)."""
    parts = []
    if ROOT_KEY in patch and ROOT_KEY not in installed and ROOT_KEY in spec.deferred:
        parts.append(f"root Application added ({ROOT_KEY}), now that Argo CD's CRDs are installed")
    drifted = sorted(k for k in patch if not (k == ROOT_KEY and ROOT_KEY not in installed))
    if drifted:
        parts.append(f"extension settings drifted from the profile; patched {', '.join(drifted)}")
    if protected:
        labels = ", ".join(f"{k} {v.label}" for k, v in sorted(spec.protected.items()))
        parts.append(f"protected settings sent ({labels}): " + ("new, or the secret changed in Key Vault" if changed
                     else "again, as Azure drops those an update leaves out"))
    return "; ".join(parts)
