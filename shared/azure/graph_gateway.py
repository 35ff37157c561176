"""Microsoft Graph access for the SSO application (an app registration, not ARM): its federated credentials and
the redirect URIs Argo CD's sign-in needs.

Plain REST over azure-core's pipeline (retries, bearer tokens from azure-identity) instead of the
large msgraph SDK: the service makes six calls. The app's identity needs the Graph application
permission Application.ReadWrite.OwnedBy and must be an owner of the SSO application (docs/deploy.md).
`GRAPH_ENDPOINT` points it at the local emulator.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from shared.azure.errors import AzureError
from shared.bootstrap.workload_identity import FederatedCredential

GRAPH_PUBLIC = "https://graph.microsoft.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class GraphGateway:
    """Find an application by client id; list, add and delete its federated identity credentials."""

    def __init__(self, credential: Any, *, endpoint: str = GRAPH_PUBLIC, ca_bundle: str | None = None,
                 retry_backoff: float = 0.8) -> None:
        self._credential = credential
        self._endpoint = endpoint.rstrip("/")
        self._verify: bool | str = ca_bundle or True
        self._retry_backoff = retry_backoff
        self._client: Any = None

    def _pipeline(self) -> Any:
        if self._client is None:
            from azure.core import PipelineClient
            from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy, UserAgentPolicy

            self._client = PipelineClient(base_url=self._endpoint, policies=[
                UserAgentPolicy(sdk_moniker="argoboot"), RetryPolicy(retry_backoff_factor=self._retry_backoff),
                BearerTokenCredentialPolicy(self._credential, GRAPH_SCOPE)])
        return self._client

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        request = HttpRequest(method, f"{self._endpoint}/v1.0{path}", json=body)
        try:
            response = self._pipeline().send_request(request, connection_verify=self._verify)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise AzureError(0, "ConnectionError", f"Microsoft Graph: {exc}") from exc
        data = json.loads(response.text()) if response.text() else None
        if response.status_code >= 400:
            error = (data or {}).get("error") or {} if isinstance(data, dict) else {}
            retry = response.headers.get("Retry-After")
            raise AzureError(response.status_code, str(error.get("code") or response.status_code),
                             f"Microsoft Graph: {error.get('message') or response.reason}",
                             float(retry) if retry and retry.isdigit() else None)
        return response.status_code, data

    def find_application(self, client_id: str) -> str | None:
        """The application's object id (Graph addresses credentials by it), or None when no such app exists."""
        try:
            _, data = self._call("GET", f"/applications(appId='{quote(client_id)}')?$select=id,appId")
        except AzureError as exc:
            if exc.not_found:
                return None
            raise
        return str(data["id"])

    def list_credentials(self, object_id: str) -> list[FederatedCredential]:
        found: list[FederatedCredential] = []
        path: str | None = f"/applications/{quote(object_id)}/federatedIdentityCredentials"
        while path:
            _, data = self._call("GET", path)
            found += [FederatedCredential(name=c["name"], issuer=c["issuer"], subject=c["subject"],
                                          audiences=tuple(c.get("audiences") or ()), id=c.get("id"))
                      for c in data.get("value", [])]
            next_link = data.get("@odata.nextLink")
            path = next_link.split("/v1.0", 1)[1] if next_link else None
        return found

    def add_credential(self, object_id: str, credential: FederatedCredential, description: str) -> str:
        """Create the credential; returns its Graph id."""
        _, data = self._call("POST", f"/applications/{quote(object_id)}/federatedIdentityCredentials", {
            "name": credential.name, "issuer": credential.issuer, "subject": credential.subject,
            "audiences": list(credential.audiences), "description": description[:600]})
        return str(data["id"])

    def redirect_uris(self, object_id: str) -> tuple[list[str], list[str]]:
        """The application's web and public-client (mobile and desktop) redirect URIs."""
        _, data = self._call("GET", f"/applications/{quote(object_id)}?$select=id,web,publicClient")
        return _uris(data, "web"), _uris(data, "publicClient")

    def add_redirect_uris(self, object_id: str, web: list[str], public: list[str]) -> None:
        """Add these redirect URIs, keeping the ones the application has and the rest of `web` and `publicClient`
        (Graph replaces a complex property whole on PATCH, so the current one is read and sent back)."""
        _, data = self._call("GET", f"/applications/{quote(object_id)}?$select=id,web,publicClient")
        body: dict[str, Any] = {}
        for key, wanted in (("web", web), ("publicClient", public)):
            current = _uris(data, key)
            missing = [u for u in wanted if u not in current]
            if missing:
                body[key] = {**((data or {}).get(key) or {}), "redirectUris": current + missing}
        if body:
            self._call("PATCH", f"/applications/{quote(object_id)}", body)

    def delete_credential(self, object_id: str, credential_id: str) -> None:
        try:
            self._call("DELETE", f"/applications/{quote(object_id)}/federatedIdentityCredentials/"
                                 f"{quote(credential_id)}")
        except AzureError as exc:
            if not exc.not_found:
                raise


def _uris(data: Any, key: str) -> list[str]:
    section = (data or {}).get(key) if isinstance(data, dict) else None
    uris = section.get("redirectUris") if isinstance(section, dict) else None
    return [u for u in uris if isinstance(u, str)] if isinstance(uris, list) else []
