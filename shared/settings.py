"""App settings, read once at first use (never at import), so a missing setting fails only what needs it.

Every name here is an app setting in `local.settings.json.template`, docs/configuration.md's table and infra/.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.azure.pacing import ARM_LIMITS, Limit
from shared.bootstrap.cluster_ids import RESOURCE_GROUP_RULE, canonical_group, is_resource_group
from shared.bootstrap.gitops_profile import DEFAULT_VAULT_SUFFIX
from shared.bootstrap.identity_placement import IdentityPlacement, PlacementError

ARM_PUBLIC = "https://management.azure.com"
GRAPH_PUBLIC = "https://graph.microsoft.com"
REPOSITORY_PROFILES = Path(__file__).resolve().parent.parent / "profiles"


class SettingsError(ValueError):
    """An app setting is missing or malformed; the message names it."""


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"app setting {name}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise SettingsError(f"app setting {name} must not be negative")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _float(env, name, default)
    if value != int(value):
        raise SettingsError(f"app setting {name} must be a whole number")
    return int(value)


def _pace(env: Mapping[str, str], name: str, kind: str) -> dict[str, Limit]:
    """`{kind: limit}` from `<burst>/<per second>` (ARM's own limit when unset), or {} for `off`."""
    raw = (env.get(name) or "").strip()
    try:
        limit = Limit.parse(raw) if raw else ARM_LIMITS[kind]
    except ValueError as exc:
        raise SettingsError(f"app setting {name}: {exc}") from None
    return {} if limit is None else {kind: limit}


def _resource_groups(raw: str, subscriptions: frozenset[str]) -> dict[str, frozenset[str]]:
    """`<subscription>/<group>,...`: limits those subscriptions to those groups; others keep all their groups."""
    groups: dict[str, set[str]] = {}
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        subscription, _, group = item.partition("/")
        subscription = subscription.lower()
        if not group or subscription not in subscriptions:
            raise SettingsError(f"app setting ALLOWED_RESOURCE_GROUPS: {item!r} must be <subscription>/<group> with "
                                "a subscription listed in ALLOWED_SUBSCRIPTIONS")
        if not is_resource_group(group):
            raise SettingsError(f"app setting ALLOWED_RESOURCE_GROUPS: {group!r} is not a resource group name "
                                f"({RESOURCE_GROUP_RULE})")
        groups.setdefault(subscription, set()).add(canonical_group(group))  # compared as scope.out_of_scope does
    return {subscription: frozenset(names) for subscription, names in groups.items()}


def _reply_entities(raw: str) -> tuple[str, ...]:
    """`replies-team-a,replies-*`: the queues and topics replies may go to (a pattern's `*` is any characters); empty:
    no replies at all. The app's Data Sender right must cover them (infra/modules/servicebus.bicep)."""
    entries = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for entry in entries:
        if not re.fullmatch(r"[a-z0-9*][a-z0-9._/*-]{0,259}", entry) or entry.strip("*") == "":
            raise SettingsError(f"app setting ALLOWED_REPLY_ENTITIES: {entry!r} is not a queue or topic name "
                                "(letters, digits, '.', '-', '_', '/'), or a pattern of one with '*'")
    return entries


def _opt_default(raw: str) -> bool:
    if raw.lower() not in ("in", "out"):
        raise SettingsError(f"app setting OPT_DEFAULT={raw!r} must be in (clusters are bootstrapped unless tagged "
                            "off) or out (only clusters tagged on)")
    return raw.lower() == "in"


@dataclass(frozen=True)
class Settings:
    """What the service needs to know about where it runs; see docs/configuration.md's settings table."""

    queue_name: str = "install-requests"  # the public request queue: other teams send here (Data Sender on it only)
    work_queue_name: str = "argoboot-work"  # the internal work queue: only the app sends here (one session a cluster)
    reply_entities: tuple[str, ...] = ()  # where replies may go: entity names or patterns (`*`), case-insensitive
    servicebus_namespace: str | None = None
    arm_endpoint: str = ARM_PUBLIC
    arm_ca_bundle: str | None = None
    arm_retry_backoff: float = 0.8
    allowed_subscriptions: frozenset[str] = field(default_factory=frozenset)
    allowed_resource_groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    ledger_connection_string: str | None = None
    ledger_table_endpoint: str | None = None
    ledger_table_prefix: str = "argoboot"
    default_profile: str = "default"
    profiles_dir: Path = REPOSITORY_PROFILES
    identity_resource_group: str | None = None
    identity_placement: IdentityPlacement = field(default_factory=IdentityPlacement)  # the same, parsed
    graph_endpoint: str = GRAPH_PUBLIC
    # The caps of the poll schedule's gaps (shared.bootstrap.poll_schedule), chosen with `./dev bench latency`
    # and its `--trade-off` (docs/performance.md, "The caps").
    identity_retry_seconds: float = 10.0
    provider_poll_seconds: float = 10.0
    cluster_poll_seconds: float = 15.0
    extension_poll_seconds: float = 15.0
    provider_cache_seconds: float = 3600.0
    max_wait_polls: int = 240
    max_install_attempts: int = 3
    provider_registration_timeout: float = 1200.0
    opt_tag: str = "argoboot"
    opt_in_by_default: bool = True
    stuck_after_seconds: float = 3600.0
    request_retention_days: int = 30
    arm_pacing: Mapping[str, Limit] = field(default_factory=lambda: dict(ARM_LIMITS))  # by request kind
    arm_pace_max_sleep: float = 2.0
    key_vault_dns_suffix: str = DEFAULT_VAULT_SUFFIX
    status_api_role: str | None = None  # the app role callers' tokens must carry (Azure: behind App Service auth)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        allowed = frozenset(s.strip().lower() for s in env.get("ALLOWED_SUBSCRIPTIONS", "").split(",") if s.strip())
        if not allowed:
            raise SettingsError("app setting ALLOWED_SUBSCRIPTIONS is empty: list the subscription ids "
                                "(comma-separated) the service may act on")
        return cls(
            queue_name=env.get("INSTALL_QUEUE_NAME") or cls.queue_name,
            work_queue_name=env.get("WORK_QUEUE_NAME") or cls.work_queue_name,
            reply_entities=_reply_entities(env.get("ALLOWED_REPLY_ENTITIES", "")),
            servicebus_namespace=env.get("ServiceBusConnection__fullyQualifiedNamespace") or None,
            arm_endpoint=(env.get("ARM_ENDPOINT") or ARM_PUBLIC).rstrip("/"),
            arm_ca_bundle=env.get("ARM_CA_BUNDLE") or None,
            arm_retry_backoff=_float(env, "ARM_RETRY_BACKOFF_SECONDS", cls.arm_retry_backoff),
            allowed_subscriptions=allowed,
            ledger_connection_string=env.get("LEDGER_CONNECTION_STRING") or None,
            ledger_table_endpoint=env.get("LEDGER_TABLE_ENDPOINT") or None,
            ledger_table_prefix=env.get("LEDGER_TABLE_PREFIX") or cls.ledger_table_prefix,
            default_profile=env.get("DEFAULT_PROFILE") or cls.default_profile,
            profiles_dir=Path(env.get("PROFILES_DIR") or REPOSITORY_PROFILES),
            identity_resource_group=env.get("IDENTITY_RESOURCE_GROUP") or None,
            identity_placement=_placement(env.get("IDENTITY_RESOURCE_GROUP")),
            graph_endpoint=(env.get("GRAPH_ENDPOINT") or GRAPH_PUBLIC).rstrip("/"),
            identity_retry_seconds=_float(env, "IDENTITY_RETRY_SECONDS", cls.identity_retry_seconds),
            provider_poll_seconds=_float(env, "PROVIDER_POLL_SECONDS", cls.provider_poll_seconds),
            cluster_poll_seconds=_float(env, "CLUSTER_POLL_SECONDS", cls.cluster_poll_seconds),
            extension_poll_seconds=_float(env, "EXTENSION_POLL_SECONDS", cls.extension_poll_seconds),
            provider_cache_seconds=_float(env, "PROVIDER_CACHE_SECONDS", cls.provider_cache_seconds),
            max_wait_polls=_int(env, "MAX_WAIT_POLLS", cls.max_wait_polls),
            max_install_attempts=_int(env, "MAX_INSTALL_ATTEMPTS", cls.max_install_attempts),
            provider_registration_timeout=_float(env, "PROVIDER_REGISTRATION_TIMEOUT_SECONDS",
                                                 cls.provider_registration_timeout),
            allowed_resource_groups=_resource_groups(env.get("ALLOWED_RESOURCE_GROUPS", ""), allowed),
            opt_tag=env.get("OPT_TAG") or cls.opt_tag,
            opt_in_by_default=_opt_default(env.get("OPT_DEFAULT") or "in"),
            stuck_after_seconds=_float(env, "STUCK_AFTER_SECONDS", cls.stuck_after_seconds),
            request_retention_days=_retention_days(env),
            arm_pacing={**_pace(env, "ARM_PACE_READS", "reads"), **_pace(env, "ARM_PACE_WRITES", "writes"),
                        **_pace(env, "ARM_PACE_DELETES", "deletes"),
                        **_pace(env, "ARM_PACE_IDENTITY_CREATES", "identity-creates")},
            arm_pace_max_sleep=_float(env, "ARM_PACE_MAX_SLEEP_SECONDS", cls.arm_pace_max_sleep),
            key_vault_dns_suffix=_vault_suffix(env.get("KEY_VAULT_DNS_SUFFIX") or cls.key_vault_dns_suffix),
            status_api_role=env.get("STATUS_API_ROLE") or None,
        )


def _placement(raw: str | None) -> IdentityPlacement:
    try:
        return IdentityPlacement.parse(raw)
    except PlacementError as exc:
        raise SettingsError(str(exc)) from None


def _retention_days(env: Mapping[str, str]) -> int:
    raw = (env.get("REQUEST_RETENTION_DAYS") or "").strip()
    if not raw:
        return Settings.request_retention_days
    if not raw.isdecimal() or int(raw) < 1:
        raise SettingsError(f"app setting REQUEST_RETENTION_DAYS={raw!r} must be a whole number of days, at least 1 "
                            "(a shorter retention could purge the rows of requests still in progress)")
    return int(raw)


def _vault_suffix(raw: str) -> str:
    """The DNS suffix of the cloud's vaults (vault.azure.net; vault.azure.cn, vault.usgovcloudapi.net elsewhere):
    profiles may name Key Vault secrets under it only."""
    suffix = raw.strip().lower().strip(".")
    if not re.match(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$", suffix):
        raise SettingsError(f"app setting KEY_VAULT_DNS_SUFFIX={raw!r} is not a DNS suffix such as vault.azure.net")
    return suffix
