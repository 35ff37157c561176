"""A profile's repository credential, read from Key Vault with the service's identity: one reading, and one refusal
with its fix, for a cluster's own reconcile and for a spoke's PATCH on its hub (which must carry the hub's)."""
from __future__ import annotations

from shared.azure.api import SecretsApi
from shared.azure.errors import AzureError
from shared.bootstrap.gitops_profile import KeyVaultSecret
from shared.errors import PermanentError


def read_repository_secret(secrets: SecretsApi | None, secret: KeyVaultSecret, whose: str) -> str:
    """The secret's value; Key Vault's 401, 403 and 404 refused (`KeyVault<code>`) with what to do, naming `whose`
    credential it is; other errors raised as they are (retried)."""
    if secrets is None:
        raise ValueError("a keyVault repository needs the reconciler's Key Vault access")
    try:
        return secrets.get_secret(secret)
    except AzureError as exc:
        if exc.status in (401, 403, 404):
            raise PermanentError(f"KeyVault{exc.code}", f"Key Vault answered {exc.status} {exc.code} for "
                                 f"{secret.url} ({whose}): create the secret, or give the service's identity the "
                                 "Key Vault Secrets User role on the vault, then send the request again") from None
        raise
