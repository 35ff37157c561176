"""Microsoft Graph, the part the service uses: applications, their redirect URIs and federated identity credentials.

Served by the same HTTPS server as the local ARM under `/v1.0/` (the service's GRAPH_ENDPOINT points
there), with Graph's error envelope and limits: 20 credentials per application, unique names, unique
issuer + subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from localazure.arm.common import Json, new_guid
from localazure.arm.identities import FederatedCredential
from localazure.arm.request import Call
from localazure.arm.server import Reply
from localazure.arm.state import ArmState


@dataclass
class Application:
    """An Entra application registration (Microsoft Graph), with its federated identity credentials by id."""

    object_id: str
    app_id: str
    display_name: str
    credentials: dict[str, FederatedCredential] = field(default_factory=dict)
    #: `web` and `publicClient` (Graph's webApplication and publicClientApplication), redirect URIs among them.
    web: Json = field(default_factory=lambda: {"redirectUris": [], "logoutUrl": None})
    public_client: Json = field(default_factory=lambda: {"redirectUris": []})

    def body(self) -> Json:
        return {"id": self.object_id, "appId": self.app_id, "displayName": self.display_name, "web": self.web,
                "publicClient": self.public_client}

    def credential_body(self, credential_id: str, credential: FederatedCredential) -> Json:
        return {
            "id": credential_id,
            "name": credential.name,
            "issuer": credential.issuer,
            "subject": credential.subject,
            "audiences": list(credential.audiences),
            "description": None,
        }


MAX_APP_CREDENTIALS = 20
_BY_APP_ID = re.compile(r"^applications\(appid='([^']+)'\)$")


def graph_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message, "innerError": {"request-id": new_guid()}}})


class GraphRoutes(ArmState):
    def __init__(self) -> None:
        super().__init__()
        self._applications: dict[str, Application] = {}  # Entra applications by object id

    def _graph(self, call: Call) -> Reply:
        path = call.lower[1:]
        if len(path) == 1 and (found := _BY_APP_ID.match(path[0])):
            if call.method != "GET":
                return graph_error(405, "Request_BadRequest", f"{call.method} is not supported here.")
            app = next((a for a in self._applications.values() if a.app_id == found.group(1)), None)
            if app is None:
                return graph_error(
                    404,
                    "Request_ResourceNotFound",
                    f"Resource '{call.segments[1]}' does not exist or one of its queried reference-property objects "
                    "are not present.",
                )
            return Reply(200, {"id": app.object_id, "appId": app.app_id, "displayName": app.display_name})
        if len(path) == 2 and path[0] == "applications":
            app = self._applications.get(path[1])
            if app is None:
                return graph_error(404, "Request_ResourceNotFound", f"Resource '{call.segments[2]}' does not exist.")
            return self._application(call, app)
        if len(path) in (3, 4) and path[0] == "applications" and path[2] == "federatedidentitycredentials":
            app = self._applications.get(path[1])
            if app is None:
                return graph_error(404, "Request_ResourceNotFound", f"Resource '{call.segments[2]}' does not exist.")
            return self._app_credentials(call, app, call.segments[4] if len(path) == 4 else None)
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{call.segments[-1]}'.")

    def _application(self, call: Call, app: Application) -> Reply:
        """GET an application; PATCH its `web` and `publicClient` (each replaced whole, as Graph does)."""
        if call.method == "GET":
            return Reply(200, app.body())
        if call.method != "PATCH":
            return graph_error(405, "Request_BadRequest", f"{call.method} is not supported here.")
        body = call.body if isinstance(call.body, dict) else {}
        for key in ("web", "publicClient"):
            value = body.get(key)
            if value is None:
                continue
            uris = value.get("redirectUris") if isinstance(value, dict) else None
            if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
                return graph_error(400, "Request_BadRequest", f"{key}.redirectUris must be a list of strings.")
            if key == "web":
                app.web = dict(value)
            else:
                app.public_client = dict(value)
        return Reply(204)

    def _app_credentials(self, call: Call, app: Application, credential_id: str | None) -> Reply:
        if credential_id is None and call.method == "GET":
            return Reply(200, {"value": [app.credential_body(i, c) for i, c in app.credentials.items()]})
        if credential_id is None and call.method == "POST":
            body = call.body if isinstance(call.body, dict) else {}
            name, issuer, subject = body.get("name"), body.get("issuer"), body.get("subject")
            audiences = body.get("audiences")
            if not all(isinstance(v, str) and v for v in (name, issuer, subject)) or not isinstance(audiences, list):
                return graph_error(400, "Request_BadRequest", "name, issuer, subject and audiences are required.")
            if len(app.credentials) >= MAX_APP_CREDENTIALS:
                return graph_error(
                    400,
                    "Request_BadRequest",
                    f"FederatedIdentityCredential limit of {MAX_APP_CREDENTIALS} reached for application "
                    f"{app.app_id}.",
                )
            for other in app.credentials.values():
                if other.name.lower() == str(name).lower():
                    return graph_error(409, "Request_MultipleObjectsWithSameKeyValue", f"'{name}' already exists.")
                if (other.issuer, other.subject) == (issuer, subject):
                    return graph_error(400, "Request_BadRequest", "Issuer and subject combination already exists.")
            credential = FederatedCredential(str(name), str(issuer), str(subject), [str(a) for a in audiences])
            credential_id = new_guid()
            app.credentials[credential_id] = credential
            return Reply(201, app.credential_body(credential_id, credential))
        if credential_id is not None and call.method == "DELETE":
            if app.credentials.pop(credential_id, None) is None:
                return graph_error(404, "Request_ResourceNotFound", f"Resource '{credential_id}' does not exist.")
            return Reply(204)
        return graph_error(405, "Request_BadRequest", f"{call.method} is not supported here.")
