"""Access tokens as Entra ID issues them: JWTs whose claims clients read, signed with a key only this process knows.

Azure's tokens are JWTs, and clients decode them without verifying: `az login --identity` reads the tenant (`tid`)
and the object id (`oid`), others the audience (`aud`) and expiry (`exp`). The service itself never decodes a token.
Here they are HS256 with a per-emulator secret (Entra uses RS256 with published keys; nobody here verifies them but
the local ARM, which checks its own signature, the expiry and that the token was meant for it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

Claims = dict[str, Any]

#: How long a token is valid, as Entra's managed-identity tokens are (about a day; clients refresh early).
LIFETIME_SECONDS = 86_399


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


#: The Azure CLI's public client id: the `appid` of a person's token from `az login`.
AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


@dataclass(frozen=True)
class Principal:
    """Who a token is for: the managed identity's client (app) id and object id, in a tenant, and the identity's
    resource id (Entra's `xms_mirid` claim, which only managed identities' tokens carry)."""

    tenant_id: str
    client_id: str
    object_id: str
    resource_id: str | None = None


class TokenIssuer:
    """Mints and checks the local Azure's access tokens."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def issue(self, principal: Principal, resource: str, now: float | None = None) -> tuple[str, int]:
        """A token for `resource` (an audience such as https://management.azure.com/) and its expiry (epoch s)."""
        claims = _common_claims(principal.tenant_id, resource, now)
        claims.update(appid=principal.client_id, appidacr="2", idtyp="app", oid=principal.object_id,
                      sub=principal.object_id)
        if principal.resource_id:
            claims["xms_mirid"] = principal.resource_id
        return self._mint(claims), int(claims["exp"])

    def issue_user(self, upn: str, object_id: str, tenant_id: str, resource: str) -> str:
        """A person's token, as `az login` gets it: `idtyp` user, the `upn`, the CLI's `appid`."""
        claims = _common_claims(tenant_id, resource, None)
        claims.update(appid=AZURE_CLI_APP_ID, appidacr="0", idtyp="user", name=upn.partition("@")[0], oid=object_id,
                      sub=object_id, unique_name=upn, upn=upn)
        return self._mint(claims)

    def _mint(self, claims: Claims) -> str:
        header = {"typ": "JWT", "alg": "HS256", "kid": "localazure"}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        return f"{signing_input}.{_b64(self._sign(signing_input))}"

    def verify(self, token: str, now: float | None = None) -> Claims | None:
        """The token's claims if this issuer signed it and it has not expired, else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        signing_input = f"{parts[0]}.{parts[1]}"
        try:
            signature = _unb64(parts[2])
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._sign(signing_input)) or not isinstance(claims, dict):
            return None
        current = time.time() if now is None else now
        if not claims.get("nbf", 0) <= current < claims.get("exp", 0):
            return None
        return claims

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest()



def _common_claims(tenant_id: str, resource: str, now: float | None) -> Claims:
    issued = int(time.time() if now is None else now)
    return {"aud": resource.removesuffix("/.default"), "iss": f"https://sts.windows.net/{tenant_id}/", "iat": issued,
            "nbf": issued, "exp": issued + LIFETIME_SECONDS, "tid": tenant_id, "uti": _b64(secrets.token_bytes(16)),
            "ver": "1.0"}


def actor(claims: Claims) -> tuple[str, str]:
    """Who ARM records in `systemData` (`createdBy`, `createdByType`) for a caller: a person by their `upn`
    (User), a managed identity (its token carries `xms_mirid`) or another application by its `appid`.
    The spec's enum is User, Application, ManagedIdentity, Key; the mapping is ARM's as observed, not published."""
    if claims.get("idtyp") == "user" or "upn" in claims:
        return str(claims.get("upn") or claims.get("unique_name") or claims.get("oid", "")), "User"
    kind = "ManagedIdentity" if claims.get("xms_mirid") else "Application"
    return str(claims.get("appid", "")), kind
