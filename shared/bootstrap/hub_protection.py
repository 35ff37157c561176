"""The hub's protected settings in every hub PATCH a spoke sends, and the hub's ledger record kept true after it.

Azure deletes the protected settings an extension update leaves out (docs/azure-contract.md; every PATCH of the
service carries all of them). A spoke's batch PATCH on its hub therefore carries the hub's own: its profile's
repository credential, read from Key Vault as the hub's own reconcile reads it (never logged, never in the ledger,
which keeps only its salted hash). The hub's record then says that the service wrote the extension last
(`extension_seen` None, `protected_hash` of what was sent), so the sweep does not take that PATCH for someone
else's; the spoke's next pass, finding its registration applied and the hub idle, records the hub's
`lastModifiedAt` again (`seen`), and drift detection goes on from there.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from shared.azure.api import SecretsApi
from shared.azure.ledger import ClusterRecord, Ledger, LedgerConflict
from shared.bootstrap.argocd_extension import ExtensionState
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.gitops import Protected, protected_hash, repository_protected
from shared.bootstrap.profiles import ProfileCatalog
from shared.bootstrap.repository_secret import read_repository_secret
from shared.errors import PermanentError, RequestRejected


@dataclass
class HubProtection:
    ledger: Ledger
    profiles: ProfileCatalog
    secrets: SecretsApi | None
    records: bool = True  # False for `plan`: it reads the hub's settings to show them, and writes nothing

    def protected(self, hub: ClusterRef) -> dict[str, Protected]:
        """The protected settings the hub's profile gives its extension (none for a hub the ledger does not know or
        whose profile has no Key Vault repository). Refused (the spoke, not the PATCH) when Key Vault refuses."""
        record = self.ledger.get_cluster(hub.key)
        if record is None:
            return {}
        try:
            profile = self.profiles.resolve(record.profile, record.overrides)
        except RequestRejected as exc:
            raise PermanentError("HubProfileUnknown", f"the hub {hub.name}'s profile cannot be resolved "
                                 f"({exc.description}): its protected settings would be lost by a PATCH without "
                                 "them. Reconcile the hub with its hub profile, then send this request again") from None
        gitops = profile.gitops
        vault_secret = gitops.repository.key_vault_secret if gitops is not None else None
        if gitops is None or vault_secret is None:
            return {}
        secret = read_repository_secret(self.secrets, vault_secret, f"the repository credential of hub {hub.name}, "
                                        f"profile {profile.name!r}, which every PATCH on the hub must carry")
        return repository_protected(gitops, secret)

    def sent(self, hub: ClusterRef, protected: dict[str, Protected]) -> None:
        """After a hub PATCH carrying `protected`: the service wrote the extension last, with these settings."""
        self._update(hub, lambda record: replace(record, extension_seen=None,
                                                 protected_hash=protected_hash(hub, protected)),
                     only_if=lambda record: bool(protected or record.protected_hash))

    def seen(self, hub: ClusterRef, ext: ExtensionState) -> None:
        """The hub's extension found idle after the service's PATCH: its `lastModifiedAt` is the service's."""
        self._update(hub, lambda record: replace(record, extension_seen=ext.modified_at),
                     only_if=lambda record: record.extension_seen is None and bool(record.protected_hash)
                     and not ext.in_progress and ext.modified_at is not None)

    def _update(self, hub: ClusterRef, change: Callable[[ClusterRecord], ClusterRecord],
                only_if: Callable[[ClusterRecord], bool]) -> None:
        """An ETag-conditional change of the hub's record; a conflict is someone writing it (the hub's own run, which
        sets both fields itself), so a few tries, then left to the next pass."""
        for _ in range(3 if self.records else 0):
            record = self.ledger.get_cluster(hub.key)
            if record is None or not only_if(record):
                return
            try:
                self.ledger.save_cluster(change(record))
                return
            except LedgerConflict:
                continue
