"""A profile's `helmValues`: any argo-helm argo-cd chart key, checked before it reaches an extension.

Keys are Helm `--set` paths; a key the service renders from a profile field (OWNED_KEYS), a key of the extension's
0.0.x releases (LEGACY_KEYS, `config-maps.*`) or a credential of the chart (the Key Vault route only) is refused with
what to use instead; values are typed where the key's last name says (`enabled`, `replicas`, `url`).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from shared.bootstrap.chart_keys import (
    KEY_VAULT_ROUTE,
    LEGACY_CONFIG_MAPS,
    HelmPath,
    collides,
    credential,
    helm_path,
    reaches,
)
from shared.bootstrap.ownership import MARKER_KEY
from shared.errors import ProfileError
from shared.untrusted import has_control, printable, shown

_HELM_KEY = re.compile(r"[A-Za-z0-9_-]+(?:\[\d+\])?(?:(?:\.|\\\.)[A-Za-z0-9_/-]+(?:\[\d+\])?)*", re.ASCII)
MULTI_LINE = "\n\r\t"  # what multi-line text (a policy CSV, a chart value holding YAML) may hold besides text
_COUNT_LIMIT = 1000

#: Extension keys the service renders from the profile's own fields: setting them in helmValues is refused.
OWNED_KEYS = {
    "redis-ha.enabled": "ha",
    "azure.workloadIdentity.enabled": "workloadIdentity.enabled",
    "azure.workloadIdentity.clientId": "workloadIdentity.enabled (the service sets the client id of the identity "
                                       "it creates)",
    "azure.workloadIdentity.entraSSOClientId": "sso.clientId",
    "configs.cm.url": "url",
    "configs.cm.oidc\\.config": "sso (the service renders the OIDC config)",
    "configs.rbac.policy\\.default": "rbac.policyDefault",
    "configs.rbac.policy\\.csv": "rbac.policyCsv",
    "configs.params.application\\.namespaces": "applicationNamespaces",
    MARKER_KEY: "nothing: the service writes it into every extension it installs, to mark it as its own",
}

#: Keys of the extension's 0.0.x releases, refused with what replaced them.
LEGACY_KEYS = {
    "deployWithHighAvailability": "ha (rendered as redis-ha.enabled)",
    "namespaceInstall": "nothing: 1.x installs Argo CD cluster-wide; restrict it with applicationNamespaces and rbac",
    "workloadIdentity.enable": "workloadIdentity.enabled (rendered as azure.workloadIdentity.enabled)",
    "workloadIdentity.clientId": "workloadIdentity.enabled (the service sets azure.workloadIdentity.clientId)",
    "workloadIdentity.entraSSOClientId": "sso.clientId (rendered as azure.workloadIdentity.entraSSOClientId)",
}

_OWNED_PATHS = {helm_path(key): field_name for key, field_name in OWNED_KEYS.items()}
_LEGACY_PATHS = {helm_path(key): replacement for key, replacement in LEGACY_KEYS.items()}




def _owned_conflict(path: HelmPath) -> str | None:
    """The profile field whose rendered key this path would set, replace or nest into, if any."""
    return next((field_name for owned, field_name in _OWNED_PATHS.items() if reaches(path, owned)), None)


def parse_helm_values(value: Any, source: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProfileError(source, "helmValues", "must be a mapping of argo-helm argo-cd chart keys to values")
    values: dict[str, str] = {}
    paths: dict[HelmPath, str] = {}
    for key, raw in value.items():
        where = f"helmValues.{printable(str(key))}"
        if not isinstance(key, str) or not _HELM_KEY.fullmatch(key):
            hint = " (one backslash before a literal dot, e.g. configs.cm.admin\\.enabled)" if "\\\\" in str(key) \
                else " (a Helm --set path such as configs.cm.admin\\.enabled: ASCII letters, digits, '_', '-', '/', " \
                     "dots between names, [n] for a list index)"
            raise ProfileError(source, where, f"is not a valid key{hint}")
        path = helm_path(key)
        if (secret := credential(path)) is not None:
            raise ProfileError(source, where, f"{secret}: never a plain setting; {KEY_VAULT_ROUTE}")
        owned = _owned_conflict(path)
        if owned is not None:
            raise ProfileError(source, where, f"is set by the service from the profile (or would replace or nest "
                               f"into a key it sets); use {owned}")
        if path in _LEGACY_PATHS or path[0] == "config-maps":
            raise ProfileError(source, where, f"is a key of the extension's 0.0.x releases; use "
                               f"{_LEGACY_PATHS.get(path) or legacy_config_map(key)} instead")
        for other_path, other in paths.items():
            if collides(path, other_path):
                raise ProfileError(source, where, f"sets the same chart value as helmValues.{other} (or one inside "
                                   "it); keep one of them")
        paths[path] = key
        values[key] = _helm_value(path, raw, source, where)
    return values


def _helm_value(path: HelmPath, raw: Any, source: str, where: str) -> str:
    """The value as ARM takes it (a string), validated as its type where the key's last name says it: `enabled`
    a boolean, `replicas` / `replicaCount` a count, `url` an http(s) URL; other text may span lines."""
    if not isinstance(raw, str | int | float):  # bool is an int
        raise ProfileError(source, where, "must be a string, number or boolean (one key per value; write "
                           "lists as key[0], key[1])")
    last = next((p for p in reversed(path) if isinstance(p, str)), "")
    if last == "enabled":
        if isinstance(raw, bool) or raw in ("true", "false"):
            return raw if isinstance(raw, str) else "true" if raw else "false"
        raise ProfileError(source, where, f"{shown(raw)} is not true or false")
    if last in ("replicas", "replicaCount"):
        count = raw if isinstance(raw, int) and not isinstance(raw, bool) else \
            int(raw) if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 4 else -1
        if not 0 <= count <= _COUNT_LIMIT:
            raise ProfileError(source, where, f"{shown(raw)} is not a count (a whole number 0 to {_COUNT_LIMIT})")
        return str(count)
    if last == "url":
        if not isinstance(raw, str) or not re.fullmatch(r"https?://[^\s/]+(/\S*)?", raw) or has_control(raw):
            raise ProfileError(source, where, f"{shown(raw)} is not an http(s) URL on one line")
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ProfileError(source, where, f"{raw} is not a number a chart can take")
    if isinstance(raw, int | float):
        return str(raw)
    return checked_string(raw, source, where, allow=MULTI_LINE)


def legacy_config_map(key: str) -> str:
    parts = key.split(".")
    if len(parts) >= 4 and parts[2] == "data" and parts[1] in LEGACY_CONFIG_MAPS:
        return f"{LEGACY_CONFIG_MAPS[parts[1]]}.{'.'.join(parts[3:])}"
    return "the configs.* keys of the argo-helm argo-cd chart"


def checked_string(value: Any, source: str, key: str, *, allow: str = "") -> str:
    """A string without control characters (but those in `allow`: multi-line text allows MULTI_LINE)."""
    if not isinstance(value, str):
        raise ProfileError(source, key, f"must be a string, not {type(value).__name__}")
    if has_control(value, allow=allow):
        raise ProfileError(source, key, f"{shown(value)} holds a control character"
                           f"{' other than a newline or tab' if allow else ' (it must be one line)'}")
    return value
