"""Where a command acts: Azure with the user's own credential, or the local Azure (`--emulator`).

Both are configured by the service's own app-setting names (ARM_ENDPOINT, LEDGER_TABLE_ENDPOINT,
ServiceBusConnection__fullyQualifiedNamespace, INSTALL_QUEUE_NAME, ...), read from the environment;
for the local Azure they come from its state file. The parts are built on demand, so `status`
never touches ARM and `plan` never opens the ledger.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from argoboot_cli.exit_codes import CliError, Exit
from argoboot_cli.output import Output
from localazure.daemon import DaemonState
from shared.azure.outbox import Outbox
from shared.azure.table_ledger import TableLedger
from shared.bootstrap.cluster_ids import ClusterRef, InvalidClusterId, parse_cluster_id
from shared.bootstrap.hub_protection import HubProtection
from shared.bootstrap.profiles import Profile, ProfileCatalog, ProfileError
from shared.errors import RequestRejected
from shared.settings import Settings, SettingsError

# Variables that would steer DefaultAzureCredential away from the local Azure's identity endpoint.
_CREDENTIAL_VARIABLES = ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_CERTIFICATE_PATH",
                         "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT")


@dataclass
class Target:
    env: Mapping[str, str]
    local: DaemonState | None = None
    _credential: Any = field(default=None, repr=False)

    @classmethod
    def open(cls, emulator: bool, out: Output) -> Target:
        """Azure as the environment describes it, or the local Azure (started if it is not running)."""
        if not emulator:
            return cls(env=dict(os.environ))
        from localazure.daemon import ensure_running, find

        state = find()
        if state is None:
            out.note("starting the local Azure (a few seconds; later commands reuse it)...")
            state, started = ensure_running()
            if started:
                out.note(f"started the local Azure (pid {state.pid}, Azure time x{state.speed:g}); "
                         "`argoboot emulator stop` stops it")
        for name in _CREDENTIAL_VARIABLES:  # the credential reads os.environ: point it at the local identity
            os.environ.pop(name, None)
        os.environ.update(state.settings)
        return cls(env=dict(os.environ), local=state)

    @property
    def where(self) -> str:
        if self.local is not None:
            return "the local Azure"
        return self.env.get("ARM_ENDPOINT") or "Azure"

    def settings(self, cluster: ClusterRef) -> Settings:
        """The service's settings; without ALLOWED_SUBSCRIPTIONS, the user's own access is the only limit."""
        env = dict(self.env)
        env["ALLOWED_SUBSCRIPTIONS"] = env.get("ALLOWED_SUBSCRIPTIONS") or cluster.subscription
        try:
            return Settings.from_env(env)
        except SettingsError as exc:
            raise CliError(Exit.BAD_INPUT, "InvalidSetting", str(exc)) from None

    def allowed(self, settings: Settings, cluster: ClusterRef) -> None:
        """Act only where the service may act (when the environment names its subscriptions)."""
        if cluster.subscription not in settings.allowed_subscriptions:
            raise CliError(Exit.BAD_INPUT, "SubscriptionNotAllowed",
                           f"subscription {cluster.subscription} is not in ALLOWED_SUBSCRIPTIONS "
                           f"({', '.join(sorted(settings.allowed_subscriptions))})")

    def credential(self) -> Any:
        """The local Azure's managed identity, or DefaultAzureCredential (an `az login` works)."""
        if self._credential is None:
            if self.local is not None:
                from azure.identity import ManagedIdentityCredential

                self._credential = ManagedIdentityCredential()
            else:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
        return self._credential

    def arm(self, settings: Settings) -> Any:
        """The service's ARM gateway with this credential, after checking a token can be had at all."""
        from azure.core.exceptions import ClientAuthenticationError

        from shared.azure.arm_gateway import ARM_SCOPE, ArmGateway

        try:
            self.credential().get_token(ARM_SCOPE)
        except ClientAuthenticationError as exc:
            raise CliError(Exit.AZURE, "CredentialUnavailable",
                           f"no token for Azure Resource Manager ({_first_line(exc)}); sign in with `az login` "
                           "(or set AZURE_CLIENT_ID and friends), or use --emulator") from None
        return ArmGateway(self.credential(), endpoint=settings.arm_endpoint, ca_bundle=settings.arm_ca_bundle,
                          retry_backoff=settings.arm_retry_backoff)

    def directory(self, settings: Settings) -> Any:
        """Microsoft Graph (for profiles with SSO), with the same credential."""
        from shared.azure.graph_gateway import GraphGateway

        return GraphGateway(self.credential(), endpoint=settings.graph_endpoint, ca_bundle=settings.arm_ca_bundle,
                            retry_backoff=settings.arm_retry_backoff)

    def secrets(self, settings: Settings) -> Any:
        """Key Vault, for a profile whose repository credential lives there (read with the same identity)."""
        from shared.azure.keyvault_gateway import KeyVaultGateway

        return KeyVaultGateway(self.credential(), ca_bundle=settings.arm_ca_bundle,
                               retry_backoff=settings.arm_retry_backoff)

    @property
    def has_ledger(self) -> bool:
        return bool(self.env.get("LEDGER_CONNECTION_STRING") or self.env.get("LEDGER_TABLE_ENDPOINT"))

    def ledger(self) -> TableLedger:
        if not self.has_ledger:
            raise CliError(Exit.BAD_INPUT, "NoLedger", "no ledger configured: set LEDGER_TABLE_ENDPOINT "
                           "(https://<account>.table.core.windows.net, reached with your credential) and "
                           "LEDGER_TABLE_PREFIX if the service uses one, or use --emulator")
        endpoint = self.env.get("LEDGER_TABLE_ENDPOINT")
        return TableLedger(connection_string=self.env.get("LEDGER_CONNECTION_STRING"), endpoint=endpoint,
                           prefix=self.env.get("LEDGER_TABLE_PREFIX") or Settings.ledger_table_prefix,
                           credential=self.credential() if endpoint else None)

    def hub_protection(self, settings: Settings, secrets: Any, *, records: bool) -> HubProtection | None:
        """A hub's protected settings for a spoke's PATCH on it: the hub's ledger record names its profile (no
        ledger: none, and such a PATCH would drop them). `records`: False for `plan`, which writes nothing."""
        if not self.has_ledger:
            return None
        catalog = ProfileCatalog.load(settings.profiles_dir, settings.default_profile, settings.key_vault_dns_suffix)
        return HubProtection(self.ledger(), catalog, secrets, records)

    def outbox(self, settings: Settings) -> Outbox:
        if self.local is not None:
            from localazure.daemon import QueueOutbox

            return QueueOutbox(self.local)
        if not settings.servicebus_namespace:
            raise CliError(Exit.BAD_INPUT, "NoQueue", "no queue configured: set "
                           "ServiceBusConnection__fullyQualifiedNamespace (<ns>.servicebus.windows.net) and "
                           "INSTALL_QUEUE_NAME, or use --emulator")
        from shared.azure.service_bus_outbox import ServiceBusOutbox

        return ServiceBusOutbox(settings.servicebus_namespace, self.credential())


def parse_cluster(text: str) -> ClusterRef:
    try:
        return parse_cluster_id(text)
    except InvalidClusterId as exc:
        raise CliError(Exit.BAD_INPUT, "InvalidClusterResourceId", str(exc)) from None


def profile_for(name: str | None, settings: Settings) -> Profile:
    """The named profile (or DEFAULT_PROFILE) from the deployment's profile files (PROFILES_DIR)."""
    try:
        catalog = ProfileCatalog.load(settings.profiles_dir, settings.default_profile, settings.key_vault_dns_suffix)
        return catalog.resolve(name)
    except ProfileError as exc:
        raise CliError(Exit.BAD_INPUT, "InvalidProfiles", str(exc)) from None
    except RequestRejected as exc:
        raise CliError(Exit.BAD_INPUT, exc.reason, exc.description) from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")


@dataclass(frozen=True)
class Job:
    """What `run` and `plan` act on: where, which cluster, with which settings and profile."""

    target: Target
    cluster: ClusterRef
    settings: Settings
    profile: Profile


def open_job(emulator: bool, cluster_id: str, profile: str | None, out: Output) -> Job:
    """Open the target and resolve the cluster, its settings and the profile; refuse what is out of scope."""
    target = Target.open(emulator, out)
    cluster = parse_cluster(cluster_id)
    settings = target.settings(cluster)
    target.allowed(settings, cluster)
    return Job(target, cluster, settings, profile_for(profile, settings))
