"""The local ARM: a stateful fake of Azure Resource Manager that the real Azure SDK clients talk to unchanged.

It serves HTTPS on 127.0.0.1 with a trustme CA (clients pass `base_url=emulator.url` and
`connection_verify=emulator.ca_path`), plus a managed-identity token endpoint shaped like the one
Azure Functions provides (`IDENTITY_ENDPOINT`/`IDENTITY_HEADER`) that issues JWTs, so
`DefaultAzureCredential` and `az login --identity` run for real. Resources: subscriptions, tenants and
resource groups, providers (per subscription, a fresh subscription's states by default), AKS and Arc
clusters, cluster extensions with their async operations, user-assigned identities and federated
credentials, role assignments, and Graph applications; ARM's cloud metadata without a token. Every
request needs an api-version its resource type offers, and every answer carries ARM's headers.
Azure's slow parts (provider registration, extension installs) run on an injected clock; faults,
throttling and latency are switchable per test. Used by the demo, the tests and the benchmarks; the
service never imports it.

This module is the servers, the token endpoint, faults and limits, the request log and the request pipeline
(auth, api-version, faults, throttling, headers); `setup_api` is what Python sets up and inspects. The rest of
`localazure.arm`: `routes` maps paths to the resource families `subscriptions` (and
`resource_groups`, their deletion), `providers` (and `operations`), `clusters`, `extensions` (with
`extension_echo`, `async_operations`, `extension_types`, `extension_type_catalog`), `identities` (and
`associated_resources`), `roles` and `graph`, one module each with its resources, their bodies and their
routes, and `resource_graph` (with `kql`), Resource Graph's query API over all of them, over `state` (what they
all read) and `common` (ids, timestamps); `api_versions` holds what each
type offers, `tokens` the JWTs, `limits` faults and token buckets, `request` the parsed request and error
envelope, `server` the sockets.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import trustme

from localazure.arm.api_versions import check_api_version
from localazure.arm.async_operations import INSTALL_FAILURE_MESSAGE, Failure
from localazure.arm.common import new_guid
from localazure.arm.limits import INTERNAL_ERROR, Fault, Faults, RateLimits
from localazure.arm.request import ArmError, Call
from localazure.arm.server import Incoming, Reply, Server
from localazure.arm.setup_api import ArmSetup
from localazure.arm.subscriptions import cloud_metadata
from localazure.arm.tokens import Principal, TokenIssuer, actor

#: The audiences ARM accepts in a token, and Graph's (its routes are served here too).
ARM_AUDIENCES = ("https://management.core.windows.net/", "https://management.core.windows.net",
                 "https://management.azure.com/", "https://management.azure.com")
#: The resource id of the function app whose system-assigned identity the token endpoint stands for (its tokens'
#: `xms_mirid`), under a subscription the local Azure does not serve: it has no Microsoft.Web.
_ELSEWHERE = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/localazure/providers"
FUNCTION_APP = f"{_ELSEWHERE}/Microsoft.Web/sites/argoboot"
GRAPH_AUDIENCES = ("https://graph.microsoft.com", "https://graph.microsoft.com/",
                   "00000003-0000-0000-c000-000000000000")


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the emulator saw it, with its query (api-version and all); `status` is 0 when a fault dropped
    the connection. Token-endpoint calls are logged apart (`token_requests`), with kind `token`."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    kind: str
    subscription: str | None
    started: float
    body: Any


class ArmEmulator(ArmSetup):
    """A local Azure Resource Manager over HTTPS with its managed-identity token endpoint.

    Python calls set up state (clusters, providers, faults); HTTP calls from the SDK drive it.
    Timings are seconds on `clock`, so a `VirtualClock` makes minutes-long installs instant.
    The knobs its route handlers read are set by each family (timings) and by `ArmState` (`tenant_id`, `url`).
    """

    def __init__(self, clock: Callable[[], float] = time.time, *,
                 provider_states: Mapping[str, str] | None = None) -> None:
        """`provider_states`: namespace -> state in every subscription made from now on (default: a fresh
        subscription's, `FRESH_SUBSCRIPTION`; `{}`: every namespace Registered); `set_provider` changes one."""
        super().__init__()
        if provider_states is not None:
            self.default_provider_states = dict(provider_states)
        self._clock = clock
        self.latency = 0.0
        self.time_scale = 1.0
        self.identity_header = secrets.token_hex(16)
        self.ca_path = ""
        self.identity_endpoint = ""
        self.requests: list[LoggedRequest] = []
        self.token_requests: list[LoggedRequest] = []
        self._app = Principal(self.tenant_id, client_id=new_guid(), object_id=new_guid(), resource_id=FUNCTION_APP)
        self._user_assigned: dict[str, Principal] = {}  # by client id, for tokens asked with client_id=
        self._people: dict[str, str] = {}  # upn -> object id, for `user_token`
        self._lock = threading.Lock()
        self._issuer = TokenIssuer()  # every token is a JWT: its `appid` is the caller, its `aud` the resource
        self._faults = Faults()
        self._rate_limits = RateLimits(actor=self._app.object_id)
        self._servers: list[Server] = []
        self._cpu_of_stopped = 0.0
        self._tempdir: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ArmEmulator:
        self._tempdir = tempfile.mkdtemp(prefix="localazure-arm-")
        ca = self.ca = trustme.CA()  # the local Key Vault's certificate comes from it too
        self.ca_path = str(Path(self._tempdir) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)
        arm, token = Server(self._serve_arm, tls), Server(self._serve_token)
        self._servers = [arm, token]
        for server in self._servers:
            server.start()
        self.url = f"https://127.0.0.1:{arm.port}"
        self.identity_endpoint = f"http://127.0.0.1:{token.port}/msi/token"
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        self._cpu_of_stopped += sum(server.cpu_seconds for server in self._servers)
        self._servers = []
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def __enter__(self) -> ArmEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def cpu_seconds(self) -> float:
        """CPU time the emulator's threads spent serving requests (TLS included), for benchmarks."""
        return self._cpu_of_stopped + sum(server.cpu_seconds for server in self._servers)

    def environ(self) -> dict[str, str]:
        """The app settings a function app needs to reach this emulator."""
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
            "ARM_ENDPOINT": self.url,
            "ARM_CA_BUNDLE": self.ca_path,
            "GRAPH_ENDPOINT": self.url,
        }

    # ------------------------------------------------------------------ faults and limits

    def fail_extension_installs(
        self, code: str = "ExtensionOperationFailed", message: str = INSTALL_FAILURE_MESSAGE, times: int = 1
    ) -> None:
        """Make the next `times` extension PUTs (creates or re-installs, not PATCHes) end Failed."""
        with self._lock:
            self._install_failures.extend([Failure(code, message)] * times)

    def inject(
        self,
        *,
        method: str | None = None,
        path_regex: str = ".*",
        status: int = 500,
        code: str = "InternalServerError",
        message: str = INTERNAL_ERROR,
        times: int = 1,
        retry_after: int | None = None,
        drop_connection: bool = False,
        lose_response: bool = False,
    ) -> None:
        """Answer the next `times` matching ARM requests with this error, or hang up before doing them
        (drop_connection), or do them and hang up before answering (lose_response)."""
        fault = Fault(
            method.upper() if method else None,
            re.compile(path_regex, re.IGNORECASE),
            status,
            code,
            message,
            times,
            retry_after,
            drop_connection,
            lose_response,
        )
        with self._lock:
            self._faults.add(fault)

    def throttle(
        self,
        *,
        reads: tuple[int, float] | None = (250, 25.0),
        writes: tuple[int, float] | None = (200, 10.0),
        deletes: tuple[int, float] | None = (200, 10.0),
        identity_creates: tuple[int, float] | None = (10, 2.0),
        on_clock: bool = False,
    ) -> None:
        """Enforce ARM's token buckets per subscription: (bucket size, refill per second); None: unlimited.

        Refill runs on real monotonic time multiplied by `time_scale`, or with `on_clock` on the emulator's
        clock: with the shared `VirtualClock`, throttling, Azure's own waits and the service's continuations
        then run on one timeline. `identity_creates` is the Managed Identity RP's own, stricter limit on
        identity PUTs, on top of `writes`.
        """
        limits = {"reads": reads, "writes": writes, "deletes": deletes, "identity-creates": identity_creates}
        with self._lock:
            self._rate_limits.configure({name: limit for name, limit in limits.items() if limit is not None},
                                        on_clock=on_clock)

    # ------------------------------------------------------------------ request log

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.token_requests.clear()

    def count(self, method: str | None = None, path_regex: str = ".*") -> int:
        """How many logged requests match the method and (case-insensitively) the path."""
        pattern = re.compile(path_regex, re.IGNORECASE)
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method.upper()) and pattern.search(r.path) is not None
            )

    # ------------------------------------------------------------------ token endpoint

    def _serve_token(self, incoming: Incoming) -> Reply:
        """The App Service / Functions managed-identity endpoint (api-version 2019-08-01), logged."""
        url = urlsplit(incoming.target)
        query = dict(parse_qsl(url.query))
        started = self._clock()
        reply = self._token(incoming, url.path, query)
        with self._lock:
            self.token_requests.append(
                LoggedRequest(incoming.method, url.path, query, reply.status, "token", None, started, None))
        return reply

    def _token(self, incoming: Incoming, path: str, query: dict[str, str]) -> Reply:
        """A JWT for the app's identity (or the user-assigned one `client_id` names) and the resource asked."""
        if path != "/msi/token":
            return Reply(404, {"error": "not_found", "error_description": f"No token endpoint at {path}."})
        if incoming.method != "GET":
            return Reply(405, {"error": "invalid_request", "error_description": "Use GET."})
        if incoming.headers.get("x-identity-header") != self.identity_header:
            return Reply(401, {"error": "unauthorized", "error_description": "X-IDENTITY-HEADER is missing or wrong."})
        resource = query.get("resource")
        if "api-version" not in query or not resource:
            return Reply(
                400, {"error": "invalid_request", "error_description": "api-version and resource are required."}
            )
        principal = self._app
        if query.get("client_id"):
            with self._lock:
                principal = self._user_assigned.setdefault(query["client_id"], self._user_assigned_principal(
                    query["client_id"]))
        token, expires_on = self._issuer.issue(principal, resource)
        return Reply(
            200,
            {
                "access_token": token,
                "expires_on": str(expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": principal.client_id,
            },
        )

    def _user_assigned_principal(self, client_id: str) -> Principal:
        """The identity a `client_id` names: one created here (its object and resource ids), or one from elsewhere."""
        identity = next((i for i in self._identities.values() if i.client_id == client_id), None)
        if identity is None:
            elsewhere = f"{_ELSEWHERE}/Microsoft.ManagedIdentity/userAssignedIdentities/{client_id}"
            return Principal(self.tenant_id, client_id, new_guid(), resource_id=elsewhere)
        return Principal(self.tenant_id, client_id, identity.principal_id, resource_id=identity.id)

    def user_token(self, upn: str, resource: str = "https://management.azure.com/") -> str:
        """A person's bearer token (as `az login` would get it), for calls made as that person rather than as the
        function app: ARM records them as a User in `systemData`."""
        return self._issuer.issue_user(upn, self._people.setdefault(upn.lower(), new_guid()), self.tenant_id,
                                       resource)

    def token_resource(self, token: str) -> str | None:
        """The resource (audience) a token from the endpoint was issued for (None: not one of ours, or expired)."""
        claims = self._issuer.verify(token)
        return None if claims is None else str(claims.get("aud"))

    def _caller(self, authorization: str) -> tuple[str, tuple[str, str]]:
        """The client id a bearer token was issued to (its `appid`; "" when it is none of ours), and who ARM
        records as the author of what the call writes."""
        claims = self._issuer.verify(authorization.partition(" ")[2])
        return ("", ("", "Application")) if claims is None else (str(claims.get("appid", "")), actor(claims))

    # ------------------------------------------------------------------ ARM request pipeline

    def _serve_arm(self, incoming: Incoming) -> Reply | None:
        started = self._clock()
        if self.latency > 0:
            time.sleep(self.latency)
        url = urlsplit(incoming.target)
        sent_query = dict(parse_qsl(url.query, keep_blank_values=True))
        segments = [unquote(s) for s in url.path.strip("/").split("/")] if url.path.strip("/") else []
        lower = [s.lower() for s in segments]
        subscription = lower[1] if len(lower) > 1 and lower[0] == "subscriptions" else None
        body, body_error = _parse_json(incoming.body)
        caller, author = self._caller(incoming.headers.get("authorization", ""))
        with self._lock:
            call = Call(
                method=incoming.method,
                path=url.path,
                segments=segments,
                lower=lower,
                query={name.lower(): value for name, value in sent_query.items()},
                body=body,
                subscription=subscription,
                now=self._clock(),
                caller=caller,
                actor=author,
            )
            fault = self._faults.take(call.method, call.path)
            reply: Reply | None
            if fault is not None and fault.lose_response:
                done = self._process(call, incoming.headers, body_error)
                reply, status = None, done.status  # logged as Azure did it; the client never hears
            else:
                reply = (None if fault.drop else fault.reply()) if fault is not None else \
                    self._process(call, incoming.headers, body_error)
                status = reply.status if reply else 0
            self.requests.append(
                LoggedRequest(call.method, call.path, sent_query, status, call.kind, subscription, started, body)
            )
        if reply is not None:
            reply.headers.update(_standard_headers(lower, incoming.headers))
        return reply

    def _process(self, call: Call, headers: Mapping[str, str], body_error: str | None) -> Reply:
        try:
            if call.lower == ["metadata", "endpoints"] and call.method == "GET":
                return cloud_metadata(self.url, call.api_version)  # no token: clients read it to find the login
            graph = call.lower[:1] == ["v1.0"]
            self._authenticate(headers, GRAPH_AUDIENCES if graph else ARM_AUDIENCES)
            if graph:
                return self._graph(call)
            check_api_version(call)
            self._require_subscription(call)
            if body_error is not None:
                raise ArmError(
                    400,
                    "InvalidRequestContent",
                    f"The request content was invalid and could not be deserialized: '{body_error}'.",
                )
            self._rate_limits.take(call, self.time_scale)
            self._settle(call.now)
            reply = self._route(call)
        except ArmError as error:
            reply = error.reply
        self._rate_limits.report(call, reply)
        return reply

    def _authenticate(self, headers: Mapping[str, str], audiences: tuple[str, ...]) -> None:
        """A bearer JWT this emulator issued, unexpired, for this service's audience."""
        authorization = headers.get("authorization")
        if not authorization:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        scheme, _, token = authorization.partition(" ")
        claims = self._issuer.verify(token) if scheme.lower() == "bearer" else None
        if claims is not None and claims.get("aud") not in audiences:
            allowed = ",".join(f"'{a}'" for a in audiences)
            raise ArmError(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. It should "
                f"exactly match with one of the allowed audiences {allowed}.",
            )
        if claims is None:
            raise ArmError(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                headers={
                    "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/'
                    f'{self.tenant_id}", error="invalid_token", error_description="The access token is invalid."'
                },
            )




def _standard_headers(lower: list[str], sent: Mapping[str, str]) -> dict[str, str]:
    """What every ARM answer carries (Graph's carry Graph's own ids instead): request ids, the caller's
    correlation id echoed, and no caching."""
    request_id = new_guid()
    if lower[:1] == ["v1.0"]:
        return {"request-id": request_id, "client-request-id": sent.get("client-request-id", request_id),
                "Cache-Control": "no-cache"}
    return {
        "Cache-Control": "no-cache",
        "Pragma": "no-cache",
        "Expires": "-1",
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "x-ms-request-id": request_id,
        "x-ms-correlation-request-id": sent.get("x-ms-correlation-request-id") or new_guid(),
        "x-ms-routing-request-id": f"EASTUS:{datetime.now(UTC):%Y%m%dT%H%M%SZ}:{request_id}",
    }




def _parse_json(raw: bytes) -> tuple[Any, str | None]:
    if not raw:
        return None, None
    try:
        return json.loads(raw), None
    except ValueError as error:
        return None, str(error)
