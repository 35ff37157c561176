"""Key Vault access for the repository credential a profile names (`gitops.repository.auth: keyVault`).

The real `SecretClient`, reading with the app's own identity: its challenge-based auth asks for a token for
the scope the vault's 401 names, and checks that scope's domain matches the vault's (`verify_challenge_resource`,
left on). Profiles only accept vault URLs under KEY_VAULT_DNS_SUFFIX, so the identity's token goes nowhere else.
The value is returned to the caller and never logged here; azure-core's logging policy logs no bodies.
"""
from __future__ import annotations

import threading
from typing import Any

from shared.azure.arm_gateway import _azure_errors
from shared.bootstrap.gitops_profile import KeyVaultSecret


class KeyVaultGateway:
    """One `SecretClient` per vault, built on first use."""

    def __init__(self, credential: Any, *, ca_bundle: str | None = None, retry_backoff: float = 0.8) -> None:
        self._credential = credential
        self._options: dict[str, Any] = {"retry_backoff_factor": retry_backoff}
        if ca_bundle:
            self._options["connection_verify"] = ca_bundle
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get_secret(self, secret: KeyVaultSecret) -> str:
        """The secret's current value (or the pinned version's); AzureError with Key Vault's code otherwise."""
        from azure.keyvault.secrets import SecretClient

        with self._lock:
            client = self._clients.get(secret.vault_url)
            if client is None:
                client = self._clients[secret.vault_url] = SecretClient(secret.vault_url, self._credential,
                                                                        **self._options)
        with _azure_errors():
            value = client.get_secret(secret.name, secret.version).value
        return str(value or "")
