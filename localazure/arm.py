"""The local ARM: a stateful fake of Azure Resource Manager that the real Azure SDK clients talk to unchanged.

It serves HTTPS on 127.0.0.1 with a trustme CA (clients pass `base_url=emulator.url` and
`connection_verify=emulator.ca_path`), plus a managed-identity token endpoint shaped like the one
Azure Functions provides (`IDENTITY_ENDPOINT`/`IDENTITY_HEADER`), so `DefaultAzureCredential` runs
for real. Resources: providers, AKS and Arc clusters, cluster extensions with their async
operations, user-assigned identities and federated credentials. Azure's slow parts (provider
registration, extension installs) run on an injected clock; faults, throttling and latency are
switchable per test. Used by the demo, the tests and the benchmarks; the service never imports it.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import trustme

from localazure.arm_model import (
    AKS,
    ARC,
    CLUSTER_KINDS,
    INSTALL_FAILURE_MESSAGE,
    KNOWN_PROVIDERS,
    LATEST_ARGOCD_VERSION,
    TERMINAL_CLUSTER_STATES,
    Cluster,
    ClusterKind,
    Extension,
    Failure,
    FederatedCredential,
    Identity,
    Json,
    Operation,
    cluster_event,
    ha_timeout_message,
    namespace_display,
    new_guid,
    not_found_message,
    provider_body,
)
from localazure.arm_server import Incoming, Reply, Server

_KINDS = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete", "POST": "action"}
_BUCKETS = {"read": "reads", "write": "writes", "action": "writes", "delete": "deletes"}
_DEFAULT_LIMITS: dict[str, tuple[int, float]] = {"reads": (250, 25.0), "writes": (200, 10.0), "deletes": (200, 10.0)}
_PROVIDER_STATES = ("NotRegistered", "Registering", "Registered")
_FIC_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-_]{2,119}$")
_MAX_CREDENTIALS = 20
_INTERNAL_ERROR = (
    "Encountered internal server error. Diagnostic information: timestamp '', subscription id '', "
    "tracking id '', request correlation id ''."
)

#: What `forceDelete=true` answers: a serialised .NET HttpResponseMessage (seen on the wire).
_FORCE_DELETE_BODY: Json = {
    "version": "1.1",
    "content": {"headers": []},
    "statusCode": 200,
    "reasonPhrase": "OK",
    "headers": [],
    "trailingHeaders": [],
    "requestMessage": None,
    "isSuccessStatusCode": True,
}


@dataclass(frozen=True)
class LoggedRequest:
    """One ARM request as the emulator saw it; `status` is 0 when a fault dropped the connection."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    kind: str
    subscription: str | None
    started: float
    body: Any


class _ArmError(Exception):
    """An ARM error response, raised from deep in a handler and answered in the ARM envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[Json] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        error: Json = {"code": code, "message": message}
        if details is not None:
            error["details"] = details
        self.reply = Reply(status, {"error": error}, dict(headers or {}))


@dataclass
class _Fault:
    method: str | None
    pattern: re.Pattern[str]
    status: int
    code: str
    message: str
    remaining: int
    retry_after: int | None
    drop: bool

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.method in (None, method) and self.pattern.search(path) is not None

    def reply(self) -> Reply:
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        return Reply(self.status, {"error": {"code": self.code, "message": self.message}}, headers)


@dataclass
class _Bucket:
    """ARM's token bucket: `size` requests at once, refilled at `refill` per (scaled) second."""

    size: int
    refill: float
    tokens: float
    updated: float

    def take(self, now: float, scale: float) -> float:
        """Take a token; 0 when granted, else the emulated seconds until one is available."""
        self.tokens = min(float(self.size), self.tokens + (now - self.updated) * scale * self.refill)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.refill


@dataclass
class _Provider:
    state: str
    ready_at: float = 0.0  # when Registering turns Registered

    def current(self, now: float) -> str:
        return "Registered" if self.state == "Registering" and now >= self.ready_at else self.state


@dataclass(frozen=True)
class _Call:
    """A parsed ARM request: segments keep the sent casing, `lower` is for matching."""

    method: str
    path: str
    segments: list[str]
    lower: list[str]
    query: dict[str, str]  # names lower-cased: ARM reads `api-version` and `api-Version` alike
    body: Any
    subscription: str | None
    now: float

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")

    @property
    def namespace(self) -> str | None:
        """The resource provider that owns the path: the namespace after the last `providers`."""
        for i in range(len(self.lower) - 2, 1, -1):
            if self.lower[i] == "providers":
                return self.segments[i + 1]
        return None


class ArmEmulator:
    """A local Azure Resource Manager over HTTPS with its managed-identity token endpoint.

    Python calls set up state (clusters, providers, faults); HTTP calls from the SDK drive it.
    Timings are seconds on `clock`, so a `VirtualClock` makes minutes-long installs instant.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.provider_registration_seconds = 30.0
        self.extension_install_seconds = 120.0
        self.extension_update_seconds = 60.0
        self.extension_delete_seconds = 60.0
        self.latency = 0.0
        self.fic_write_seconds = 0.0
        self.time_scale = 1.0
        self.extension_version = LATEST_ARGOCD_VERSION
        self.tenant_id = new_guid()
        self.identity_header = secrets.token_hex(16)
        self.url = ""
        self.ca_path = ""
        self.identity_endpoint = ""
        self.requests: list[LoggedRequest] = []
        self._app_client_id = new_guid()
        self._app_object_id = new_guid()
        self._lock = threading.Lock()
        self._tokens: set[str] = set()
        self._providers: dict[tuple[str, str], _Provider] = {}
        self._clusters: dict[str, Cluster] = {}
        self._identities: dict[str, Identity] = {}
        self._operations: dict[str, Operation] = {}
        self._install_failures: list[Failure] = []
        self._faults: list[_Fault] = []
        self._limits: dict[str, tuple[int, float]] | None = None
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._servers: list[Server] = []
        self._cpu_of_stopped = 0.0
        self._tempdir: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ArmEmulator:
        self._tempdir = tempfile.mkdtemp(prefix="localazure-arm-")
        ca = trustme.CA()
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
        }

    # ------------------------------------------------------------------ state set-up (Python, not HTTP)

    def set_provider(self, subscription: str, namespace: str, state: str) -> None:
        """Set a namespace's registration; `Registering` completes provider_registration_seconds from now."""
        if state not in _PROVIDER_STATES:
            raise ValueError(f"state must be one of {_PROVIDER_STATES}, not {state!r}")
        with self._lock:
            ready_at = self._clock() + self.provider_registration_seconds
            self._providers[(subscription.lower(), namespace.lower())] = _Provider(state, ready_at)

    def add_aks_cluster(
        self,
        subscription: str,
        resource_group: str,
        name: str,
        *,
        location: str = "eastus",
        node_counts: Sequence[int] = (3,),
        identity: str = "SystemAssigned",
        oidc_issuer: bool = True,
        workload_identity: bool = True,
        provisioning_state: str = "Succeeded",
        ready_after: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Json:
        """Create an AKS cluster; returns the ResourceWriteSuccess event ARM would publish for it."""
        if identity not in ("SystemAssigned", "UserAssigned", "None"):
            raise ValueError(f"identity must be SystemAssigned, UserAssigned or None, not {identity!r}")
        return self._add_cluster(
            AKS, subscription, resource_group, name, location, tuple(node_counts), identity,
            oidc_issuer, workload_identity, provisioning_state, ready_after, tags,
        )  # fmt: skip

    def add_arc_cluster(
        self,
        subscription: str,
        resource_group: str,
        name: str,
        *,
        location: str = "eastus",
        node_count: int = 3,
        oidc_issuer: bool = True,
        workload_identity: bool = True,
        provisioning_state: str = "Succeeded",
        ready_after: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Json:
        """Connect an Arc cluster; returns the ResourceWriteSuccess event ARM would publish for it."""
        return self._add_cluster(
            ARC, subscription, resource_group, name, location, (node_count,), "SystemAssigned",
            oidc_issuer, workload_identity, provisioning_state, ready_after, tags,
        )  # fmt: skip

    def _add_cluster(
        self,
        kind: ClusterKind,
        subscription: str,
        resource_group: str,
        name: str,
        location: str,
        node_counts: tuple[int, ...],
        identity: str,
        oidc_issuer: bool,
        workload_identity: bool,
        provisioning_state: str,
        ready_after: float | None,
        tags: Mapping[str, str] | None,
    ) -> Json:
        with self._lock:
            now = self._clock()
            cluster = Cluster(
                kind=kind,
                subscription=subscription,
                resource_group=resource_group,
                name=name,
                location=location,
                node_counts=node_counts,
                identity=identity,
                oidc_issuer=oidc_issuer,
                workload_identity=workload_identity,
                provisioning_state=provisioning_state,
                ready_at=None if ready_after is None else now + ready_after,
                tags=dict(tags or {}),
                created=now,
                tenant_id=self.tenant_id,
            )
            if cluster.key in self._clusters:
                raise ValueError(f"cluster {cluster.resource_uri} already exists")
            self._clusters[cluster.key] = cluster
            return cluster_event(cluster, deleted=False, now=now, tenant_id=self.tenant_id)

    def delete_cluster(self, cluster_id: str) -> Json:
        """Remove a cluster and its extensions; returns the ResourceDeleteSuccess event."""
        with self._lock:
            cluster = self._clusters.pop(_key(cluster_id))
            for extension in cluster.extensions.values():
                if extension.operation is not None:
                    extension.operation.canceled = True
            return cluster_event(cluster, deleted=True, now=self._clock(), tenant_id=self.tenant_id)

    def set_cluster_state(self, cluster_id: str, provisioning_state: str) -> None:
        """Pin a cluster's provisioningState (e.g. `Updating`, which makes AKS refuse extension writes)."""
        with self._lock:
            cluster = self._clusters[_key(cluster_id)]
            cluster.provisioning_state = provisioning_state
            cluster.ready_at = None

    def add_extension(
        self,
        cluster_id: str,
        name: str,
        *,
        extension_type: str = "Microsoft.ArgoCD",
        release_train: str = "preview",
        version: str | None = None,
        settings: Mapping[str, str] | None = None,
        provisioning_state: str = "Succeeded",
    ) -> None:
        """Put an already-installed extension on a cluster (e.g. a legacy `0.0.9-preview` Argo CD)."""
        with self._lock:
            cluster = self._clusters[_key(cluster_id)]
            now = self._clock()
            succeeded = provisioning_state == "Succeeded"
            failed = provisioning_state == "Failed"
            cluster.extensions[name.lower()] = Extension(
                cluster=cluster,
                name=name,
                extension_type=extension_type,
                release_train=release_train,
                auto_upgrade=version is None,
                version=version,
                scope={"cluster": {"releaseNamespace": "argocd"}},
                settings=dict(settings or {}),
                protected={},
                provisioning_state=provisioning_state,
                current_version=(version or self.extension_version) if succeeded else None,
                created=now,
                modified=now,
                failure=Failure("ExtensionOperationFailed", INSTALL_FAILURE_MESSAGE) if failed else None,
                failed_at=now,
            )

    # ------------------------------------------------------------------ state inspection

    def cluster(self, cluster_id: str) -> Json | None:
        """The cluster's ARM body at the newest api-version, or None."""
        with self._lock:
            cluster = self._clusters.get(_key(cluster_id))
            return None if cluster is None else cluster.body(cluster.kind.latest_api, self._clock())

    def extension(self, cluster_id: str, name: str) -> Json | None:
        with self._lock:
            self._settle(self._clock())
            cluster = self._clusters.get(_key(cluster_id))
            extension = None if cluster is None else cluster.extensions.get(name.lower())
            return None if extension is None else extension.body()

    def identities(self) -> list[Json]:
        with self._lock:
            return [identity.body("2023-01-31") for identity in self._identities.values()]

    def federated_credentials(self, identity_id: str) -> list[Json]:
        """The identity's federated credentials ([] when the identity does not exist)."""
        with self._lock:
            identity = self._identities.get(_key(identity_id))
            if identity is None:
                return []
            return [identity.credential_body(c) for c in identity.credentials.values()]

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
        message: str = _INTERNAL_ERROR,
        times: int = 1,
        retry_after: int | None = None,
        drop_connection: bool = False,
    ) -> None:
        """Answer the next `times` matching ARM requests with this error (or hang up, if drop_connection)."""
        fault = _Fault(
            method.upper() if method else None,
            re.compile(path_regex, re.IGNORECASE),
            status,
            code,
            message,
            times,
            retry_after,
            drop_connection,
        )
        with self._lock:
            self._faults.append(fault)

    def throttle(
        self,
        *,
        reads: tuple[int, float] | None = (250, 25.0),
        writes: tuple[int, float] | None = (200, 10.0),
        deletes: tuple[int, float] | None = (200, 10.0),
        identity_creates: tuple[int, float] | None = (10, 2.0),
    ) -> None:
        """Enforce ARM's token buckets per subscription: (bucket size, refill per second); None: unlimited.

        Refill runs on real monotonic time multiplied by `time_scale`. `identity_creates` is the
        Managed Identity RP's own, stricter limit on identity PUTs, on top of `writes`.
        """
        limits = {"reads": reads, "writes": writes, "deletes": deletes, "identity-creates": identity_creates}
        with self._lock:
            self._limits = {name: limit for name, limit in limits.items() if limit is not None}
            self._buckets.clear()

    # ------------------------------------------------------------------ request log

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

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
        """The App Service / Functions managed-identity endpoint (api-version 2019-08-01)."""
        url = urlsplit(incoming.target)
        query = dict(parse_qsl(url.query))
        if url.path != "/msi/token":
            return Reply(404, {"error": "not_found", "error_description": f"No token endpoint at {url.path}."})
        if incoming.method != "GET":
            return Reply(405, {"error": "invalid_request", "error_description": "Use GET."})
        if incoming.headers.get("x-identity-header") != self.identity_header:
            return Reply(401, {"error": "unauthorized", "error_description": "X-IDENTITY-HEADER is missing or wrong."})
        resource = query.get("resource")
        if "api-version" not in query or not resource:
            return Reply(
                400, {"error": "invalid_request", "error_description": "api-version and resource are required."}
            )
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens.add(token)
        return Reply(
            200,
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + 3600),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": query.get("client_id", self._app_client_id),
            },
        )

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
        with self._lock:
            call = _Call(
                method=incoming.method,
                path=url.path,
                segments=segments,
                lower=lower,
                query={name.lower(): value for name, value in sent_query.items()},
                body=body,
                subscription=subscription,
                now=self._clock(),
            )
            fault = next((f for f in self._faults if f.matches(call.method, call.path)), None)
            reply: Reply | None
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                reply = None if fault.drop else fault.reply()
            else:
                reply = self._process(call, incoming.headers, body_error)
            kind = _KINDS.get(call.method, "action")
            self.requests.append(
                LoggedRequest(
                    call.method, call.path, sent_query, reply.status if reply else 0, kind, subscription, started, body
                )
            )
        if reply is not None:
            request_id = new_guid()
            reply.headers.update(
                {
                    "x-ms-request-id": request_id,
                    "x-ms-correlation-request-id": incoming.headers.get("x-ms-correlation-request-id", new_guid()),
                    "x-ms-routing-request-id": f"EASTUS:{datetime.now(UTC):%Y%m%dT%H%M%SZ}:{request_id}",
                }
            )
        return reply

    def _process(self, call: _Call, headers: Mapping[str, str], body_error: str | None) -> Reply:
        try:
            self._authenticate(headers)
            if not call.api_version:
                raise _ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            if body_error is not None:
                raise _ArmError(
                    400,
                    "InvalidRequestContent",
                    f"The request content was invalid and could not be deserialized: '{body_error}'.",
                )
            self._take_tokens(call)
            self._settle(call.now)
            reply = self._route(call)
        except _ArmError as error:
            reply = error.reply
        if call.subscription is not None:
            bucket = _BUCKETS[_KINDS.get(call.method, "action")]
            reply.headers[f"x-ms-ratelimit-remaining-subscription-{bucket}"] = str(
                self._remaining(call.subscription, bucket)
            )
        return reply

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        authorization = headers.get("authorization")
        if not authorization:
            raise _ArmError(
                401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token not in self._tokens:
            raise _ArmError(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                headers={
                    "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/'
                    f'{self.tenant_id}", error="invalid_token", error_description="The access token is invalid."'
                },
            )

    def _take_tokens(self, call: _Call) -> None:
        if self._limits is None or call.subscription is None:
            return
        names = [_BUCKETS[_KINDS.get(call.method, "action")]]
        if call.method == "PUT" and _is_identity_path(call.lower):
            names.append("identity-creates")
        now = time.monotonic()
        for name in names:
            limit = self._limits.get(name)
            if limit is None:
                continue
            bucket = self._buckets.setdefault(
                (call.subscription, name), _Bucket(limit[0], limit[1], float(limit[0]), now)
            )
            wait = bucket.take(now, self.time_scale)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                operation = {"reads": "read", "deletes": "delete"}.get(name, "write")
                raise _ArmError(
                    429,
                    "SubscriptionRequestsThrottled",
                    f"Number of '{operation}' requests for subscription '{call.subscription}' actor "
                    f"'{self._app_object_id}' exceeded. Please try again after '{seconds}' seconds.",
                    headers={"Retry-After": str(seconds)},
                )

    def _remaining(self, subscription: str, bucket_name: str) -> int:
        bucket = self._buckets.get((subscription, bucket_name))
        if bucket is not None:
            return int(bucket.tokens)
        return _DEFAULT_LIMITS[bucket_name][0] - 1

    def _settle(self, now: float) -> None:
        """Finish the extension operations whose time has come (state advances lazily, on access)."""
        for cluster in self._clusters.values():
            for key, extension in list(cluster.extensions.items()):
                operation = extension.operation
                if operation is None or now < operation.ends:
                    continue
                extension.operation = None
                extension.modified = operation.ends
                if operation.activity == "Deleting":
                    del cluster.extensions[key]
                elif operation.failure is not None:
                    extension.provisioning_state = "Failed"
                    extension.failure = operation.failure
                    extension.failed_at = operation.ends
                else:
                    extension.provisioning_state = "Succeeded"
                    extension.failure = None
                    extension.current_version = extension.version or self.extension_version

    # ------------------------------------------------------------------ routing

    def _route(self, call: _Call) -> Reply:
        match call.lower:
            case ["subscriptions", _, "providers", _]:
                _allow(call, "GET")
                return self._provider(call, register=False)
            case ["subscriptions", _, "providers", _, "register"]:
                _allow(call, "POST")
                return self._provider(call, register=True)
        self._require_registration(call)
        match call.lower:
            case ["subscriptions", _, "resourcegroups", _, "providers", namespace, resource_type, _] if (
                namespace,
                resource_type,
            ) in CLUSTER_KINDS:
                return self._cluster(call)
            case [*_, "providers", "microsoft.kubernetesconfiguration", "extensions"] if len(call.lower) == 11:
                _allow(call, "GET")
                cluster = self._parent_cluster(call)
                return Reply(200, {"value": [e.body() for e in cluster.extensions.values()], "nextLink": None})
            case [*_, "providers", "microsoft.kubernetesconfiguration", "extensions", _] if len(call.lower) == 12:
                return self._extension(call)
            case [*_, "providers", "microsoft.kubernetesconfiguration", "extensions", _, "operations", _] if (
                len(call.lower) == 14
            ):
                return self._operation(call)
            case [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.managedidentity",
                "userassignedidentities",
                _,
            ]:
                return self._identity(call)
            case [*_, "userassignedidentities", _, "federatedidentitycredentials"] if len(call.lower) == 9:
                _allow(call, "GET")
                identity = self._parent_identity(call)
                return Reply(200, {"value": [identity.credential_body(c) for c in identity.credentials.values()]})
            case [*_, "userassignedidentities", _, "federatedidentitycredentials", _] if len(call.lower) == 10:
                return self._credential(call)
            case ["subscriptions", _, "providers", _, _] | ["subscriptions", _, "resourcegroups", _, "providers", _, _]:
                return self._list(call)
        _unknown(call)

    def _require_registration(self, call: _Call) -> None:
        namespace = call.namespace
        if namespace is None or call.subscription is None:
            return
        if self._provider_state(call.subscription, namespace, call.now) != "Registered":
            message = (
                f"The subscription is not registered to use namespace '{namespace_display(namespace)}'. "
                "See https://aka.ms/rps-not-found for how to register subscriptions."
            )
            detail = {
                "code": "MissingSubscriptionRegistration",
                "target": namespace_display(namespace),
                "message": message,
            }
            raise _ArmError(409, "MissingSubscriptionRegistration", message, details=[detail])

    def _provider_state(self, subscription: str, namespace: str, now: float) -> str:
        provider = self._providers.get((subscription, namespace.lower()))
        return "Registered" if provider is None else provider.current(now)

    def _provider(self, call: _Call, *, register: bool) -> Reply:
        """GET a provider, or register it: synchronous 200, `Registered` provider_registration_seconds later."""
        subscription, namespace = call.segments[1], call.segments[3]
        key = (subscription.lower(), namespace.lower())
        if register and self._provider_state(key[0], key[1], call.now) == "NotRegistered":
            self._providers[key] = _Provider("Registering", call.now + self.provider_registration_seconds)
        return Reply(200, provider_body(subscription, namespace, self._provider_state(key[0], key[1], call.now)))

    def _list(self, call: _Call) -> Reply:
        """Subscription- and resource-group-wide lists of clusters and identities."""
        _allow(call, "GET")
        namespace, resource_type = call.lower[-2], call.lower[-1]
        resource_group = call.lower[3] if call.lower[2] == "resourcegroups" else None
        bodies: list[Json]
        if (namespace, resource_type) in CLUSTER_KINDS:
            kind = CLUSTER_KINDS[(namespace, resource_type)]
            bodies = [
                c.body(call.api_version, call.now)
                for c in self._clusters.values()
                if c.kind is kind and _in_scope(c.subscription, c.resource_group, call.subscription, resource_group)
            ]
        elif (namespace, resource_type) == ("microsoft.managedidentity", "userassignedidentities"):
            bodies = [
                i.body(call.api_version)
                for i in self._identities.values()
                if _in_scope(i.subscription, i.resource_group, call.subscription, resource_group)
            ]
        else:
            _unknown(call)
        return Reply(200, {"value": bodies})

    # ------------------------------------------------------------------ clusters and extensions

    def _cluster(self, call: _Call) -> Reply:
        _allow(call, "GET")
        cluster = self._clusters.get("/" + "/".join(call.lower))
        if cluster is None:
            s = call.segments
            raise _ArmError(404, "ResourceNotFound", not_found_message(s[5], s[6], s[7], s[3]))
        return Reply(200, cluster.body(call.api_version, call.now))

    def _parent_cluster(self, call: _Call) -> Cluster:
        lower = call.lower
        if lower[0] != "subscriptions" or lower[2] != "resourcegroups" or lower[4] != "providers":
            _unknown(call)
        cluster = self._clusters.get("/" + "/".join(lower[:8]))
        if cluster is None:
            raise _ArmError(
                404,
                "ParentResourceNotFound",
                "Can not perform requested operation on nested resource. "
                f"Parent resource '{call.segments[7]}' not found.",
            )
        return cluster

    def _extension(self, call: _Call) -> Reply:
        _allow(call, "GET", "PUT", "PATCH", "DELETE")
        cluster = self._parent_cluster(call)
        name = call.segments[11]
        extension = cluster.extensions.get(name.lower())
        if call.method == "PUT":
            return self._put_extension(call, cluster, name, extension)
        if call.method == "DELETE":
            return self._delete_extension(call, cluster, extension)
        if extension is None:
            raise _ArmError(
                404,
                "ResourceNotFound",
                not_found_message("Microsoft.KubernetesConfiguration", "extensions", name, cluster.resource_group),
            )
        if call.method == "PATCH":
            return self._patch_extension(call, extension)
        return Reply(200, extension.body())

    def _put_extension(self, call: _Call, cluster: Cluster, name: str, existing: Extension | None) -> Reply:
        properties = _properties(call.body)
        extension_type = properties.get("extensionType")
        if not isinstance(extension_type, str) or not extension_type:
            raise _ArmError(400, "InvalidRequestContent", "The property 'extensionType' is required.")
        if existing is not None:
            _refuse_busy_extension(existing)
            if existing.extension_type.lower() != extension_type.lower():
                raise _ArmError(
                    400,
                    "BadRequest",
                    f"The extensionType of extension '{existing.name}' cannot be changed; delete and recreate it.",
                )
        self._refuse_busy_cluster(cluster, call.now)
        settings = _string_map(properties.get("configurationSettings"), "configurationSettings")
        protected = _string_map(properties.get("configurationProtectedSettings"), "configurationProtectedSettings")
        failure = self._install_failures.pop(0) if self._install_failures else None
        version = properties.get("version")
        extension = Extension(
            cluster=cluster,
            name=existing.name if existing else name,
            extension_type=extension_type,
            release_train=str(properties.get("releaseTrain") or "Stable"),
            auto_upgrade=bool(properties.get("autoUpgradeMinorVersion", True)),
            version=version if isinstance(version, str) else None,
            scope=properties.get("scope"),
            settings=settings,
            protected=protected,
            provisioning_state="Creating",
            current_version=existing.current_version if existing else None,
            created=existing.created if existing else call.now,
            modified=call.now,
        )
        cluster.extensions[name.lower()] = extension
        activity = "Updating" if existing else "Creating"
        seconds = self.extension_update_seconds if existing else self.extension_install_seconds
        operation = self._start(extension, activity, call.now + seconds, failure or _ha_failure(extension, activity))
        headers = self._async_headers(call, extension, operation, "PT48H")
        if existing is not None:
            return Reply(200, extension.body(), headers)
        # The wire also carries a Location at the regional RP host. Clients must ignore it, and the
        # SDK does: for a PUT with final-state-via azure-async-operation azure-core GETs the request URL.
        headers["Location"] = (
            f"https://{cluster.location}.rp.kubernetesconfiguration.azure.com{quote(extension.id)}?api-Version={call.api_version}"
        )
        return Reply(201, extension.body(), headers)

    def _patch_extension(self, call: _Call, extension: Extension) -> Reply:
        """PATCH: 200 when nothing changes, else 202 and an update. A setting patched to null is removed
        (the reference is silent on null; this follows JSON merge-patch, which ARM PATCH generally uses)."""
        properties = _properties(call.body, required=False)
        _refuse_busy_extension(extension)
        new_type = properties.get("extensionType")
        if isinstance(new_type, str) and new_type.lower() != extension.extension_type.lower():
            raise _ArmError(400, "BadRequest", "The property 'extensionType' cannot be patched.")
        if "scope" in properties and properties["scope"] != extension.scope:
            raise _ArmError(400, "BadRequest", "The property 'scope' cannot be patched.")
        settings = _merge(extension.settings, properties.get("configurationSettings"), "configurationSettings")
        protected = _merge(
            extension.protected, properties.get("configurationProtectedSettings"), "configurationProtectedSettings"
        )
        release_train = str(properties.get("releaseTrain") or extension.release_train)
        version = properties.get("version", extension.version)
        auto_upgrade = bool(properties.get("autoUpgradeMinorVersion", extension.auto_upgrade))
        before = (
            extension.settings,
            extension.protected,
            extension.release_train.lower(),
            extension.version,
            extension.auto_upgrade,
        )
        if (settings, protected, release_train.lower(), version, auto_upgrade) == before:
            return Reply(200, extension.body())
        self._refuse_busy_cluster(extension.cluster, call.now)
        extension.settings, extension.protected = settings, protected
        extension.release_train, extension.auto_upgrade = release_train, auto_upgrade
        extension.version = version if isinstance(version, str) else None
        extension.modified = call.now
        failure = _ha_failure(extension, "Updating")
        operation = self._start(extension, "Updating", call.now + self.extension_update_seconds, failure)
        return Reply(202, extension.body(), self._async_headers(call, extension, operation, "PT48H"))

    def _delete_extension(self, call: _Call, cluster: Cluster, extension: Extension | None) -> Reply:
        if extension is None:
            return Reply(204)
        if call.query.get("forcedelete", "").lower() == "true":
            if extension.operation is not None:
                extension.operation.canceled = True
            del cluster.extensions[extension.name.lower()]
            return Reply(200, _FORCE_DELETE_BODY)
        _refuse_busy_extension(extension)
        self._refuse_busy_cluster(cluster, call.now)
        operation = self._start(extension, "Deleting", call.now + self.extension_delete_seconds, None)
        return Reply(202, None, self._async_headers(call, extension, operation, "PT1H"))

    def _operation(self, call: _Call) -> Reply:
        _allow(call, "GET")
        operation = self._operations.get(call.lower[13])
        if operation is None or operation.resource_id.lower() != "/" + "/".join(call.lower[:12]):
            raise _ArmError(404, "ResourceNotFound", f"The async operation '{call.segments[13]}' was not found.")
        return Reply(200, operation.body(call.now))

    def _start(self, extension: Extension, activity: str, ends: float, failure: Failure | None) -> Operation:
        operation = Operation(new_guid(), extension.id, activity, ends, failure)
        self._operations[operation.op_id] = operation
        extension.operation = operation
        extension.provisioning_state = activity
        return operation

    def _async_headers(self, call: _Call, extension: Extension, operation: Operation, timeout: str) -> dict[str, str]:
        """Azure-AsyncOperation as the RP spells it: `ConnectedClusters`, and the query `api-Version`."""
        url = f"{self.url}{quote(extension.async_path)}/operations/{operation.op_id}?api-Version={call.api_version}"
        return {"Azure-AsyncOperation": url, "x-ms-async-operation-timeout": timeout}

    def _refuse_busy_cluster(self, cluster: Cluster, now: float) -> None:
        """AKS refuses extension writes while the cluster itself is being created or updated."""
        state = cluster.state(now)
        if cluster.kind is AKS and state.lower() not in TERMINAL_CLUSTER_STATES:
            raise _ArmError(
                409,
                "OperationNotAllowed",
                f"Operation is not allowed: Another operation ({state}) is in progress, please wait for it to finish "
                "before starting a new operation. See https://aka.ms/aks-pending-operation for more details",
            )

    # ------------------------------------------------------------------ managed identities

    def _identity(self, call: _Call) -> Reply:
        _allow(call, "GET", "PUT", "PATCH", "DELETE")
        key = "/" + "/".join(call.lower)
        identity = self._identities.get(key)
        subscription, resource_group, name = call.segments[1], call.segments[3], call.segments[7]
        if call.method == "PUT":
            body = call.body if isinstance(call.body, dict) else {}
            location = body.get("location")
            if not isinstance(location, str) or not location:
                raise _ArmError(400, "LocationRequired", "The location property is required for this definition.")
            tags = _string_map(body.get("tags"), "tags")
            if identity is not None:
                if _region(location) != _region(identity.location):
                    raise _ArmError(
                        400,
                        "InvalidResourceLocation",
                        f"The resource '{identity.name}' already exists in location '{identity.location}' in resource "
                        f"group '{identity.resource_group}'. A resource with the same name cannot be created in "
                        f"location '{location}'. Please select a new resource name.",
                    )
                identity.tags = tags
                return Reply(200, identity.body(call.api_version))
            identity = Identity(subscription, resource_group, name, location, tags, self.tenant_id)
            self._identities[key] = identity
            return Reply(201, identity.body(call.api_version), {"Location": identity.id})
        if call.method == "DELETE":
            if identity is None:
                return Reply(204)
            del self._identities[key]
            return Reply(200)
        if identity is None:
            raise _ArmError(
                404,
                "ResourceNotFound",
                not_found_message("Microsoft.ManagedIdentity", "userAssignedIdentities", name, resource_group),
            )
        if call.method == "PATCH" and isinstance(call.body, dict) and "tags" in call.body:
            identity.tags = _string_map(call.body["tags"], "tags")
        return Reply(200, identity.body(call.api_version))

    def _parent_identity(self, call: _Call) -> Identity:
        identity = self._identities.get("/" + "/".join(call.lower[:8]))
        if identity is None:
            raise _ArmError(404, "ParentResourceNotFound", "The parent user-assigned identity doesn't exist.")
        return identity

    def _credential(self, call: _Call) -> Reply:
        """Federated credentials: synchronous writes, one at a time per identity (409 otherwise)."""
        _allow(call, "GET", "PUT", "DELETE")
        identity = self._parent_identity(call)
        name = call.segments[9]
        existing = identity.credentials.get(name.lower())
        if call.method == "GET":
            if existing is None:
                raise _ArmError(
                    404,
                    "ResourceNotFound",
                    not_found_message(
                        "Microsoft.ManagedIdentity",
                        f"userAssignedIdentities/{identity.name}/federatedIdentityCredentials",
                        name,
                        identity.resource_group,
                    ),
                )
            return Reply(200, identity.credential_body(existing))
        if call.method == "DELETE":
            self._refuse_concurrent_write(identity)
            if existing is None:
                return Reply(204)
            del identity.credentials[name.lower()]
            return self._hold(identity, Reply(200))
        if not _FIC_NAME.match(name):
            raise _ArmError(400, "BadRequest", f"Federated Identity Credential name '{name}' is invalid.")
        credential = _credential_from(name if existing is None else existing.name, call.body)
        self._refuse_concurrent_write(identity)
        for other in identity.credentials.values():
            if other is not existing and (other.issuer, other.subject) == (credential.issuer, credential.subject):
                raise _ArmError(
                    400, "BadRequest", "Issuer and subject combination already exists for this Managed Identity."
                )
        if existing is None and len(identity.credentials) >= _MAX_CREDENTIALS:
            raise _ArmError(
                400,
                "BadRequest",
                f"A maximum of {_MAX_CREDENTIALS} federated identity credentials can be added to a "
                "user-assigned managed identity.",
            )
        identity.credentials[name.lower()] = credential
        body = identity.credential_body(credential)
        if existing is not None:
            return self._hold(identity, Reply(200, body))
        return self._hold(identity, Reply(201, body, {"Location": body["id"]}))

    def _refuse_concurrent_write(self, identity: Identity) -> None:
        if time.monotonic() < identity.busy_until:
            raise _ArmError(
                409,
                "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity",
                f"Too many Federated Identity Credentials are written concurrently for the managed identity "
                f"'{identity.id.lower()}'. Concurrent Federated Identity Credentials writes under the same managed "
                "identity are not supported.",
            )

    def _hold(self, identity: Identity, reply: Reply) -> Reply:
        """Keep the identity's credential write in flight for fic_write_seconds (real time)."""
        identity.busy_until = time.monotonic() + self.fic_write_seconds
        reply.delay = self.fic_write_seconds
        return reply


# ---------------------------------------------------------------------- helpers


def _key(resource_id: str) -> str:
    return resource_id.rstrip("/").lower()


def _is_identity_path(lower: list[str]) -> bool:
    return len(lower) == 8 and lower[5:7] == ["microsoft.managedidentity", "userassignedidentities"]


def _in_scope(subscription: str, resource_group: str, want_subscription: str | None, want_group: str | None) -> bool:
    return subscription.lower() == want_subscription and (want_group is None or resource_group.lower() == want_group)


def _region(location: str) -> str:
    """`East US` and `eastus` are the same region."""
    return location.replace(" ", "").lower()


def _allow(call: _Call, *methods: str) -> None:
    if call.method not in methods:
        raise _ArmError(
            405,
            "MethodNotAllowed",
            f"The local ARM does not support {call.method} on '{call.path}' (only {', '.join(methods)}).",
        )


def _unknown(call: _Call) -> NoReturn:
    namespace = call.namespace
    if namespace is not None and namespace.lower() in KNOWN_PROVIDERS:
        index = max(i for i, s in enumerate(call.lower[:-1]) if s == "providers")
        resource_type = "/".join(call.segments[index + 2 :: 2]) or "(none)"
        raise _ArmError(
            404,
            "InvalidResourceType",
            f"The resource type '{resource_type}' could not be found in the namespace "
            f"'{namespace_display(namespace)}' for api version '{call.api_version}'.",
        )
    raise _ArmError(
        404,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location 'eastus' and API version '{call.api_version}' "
        f"for type '{call.path}'.",
    )


def _refuse_busy_extension(extension: Extension) -> None:
    """One operation at a time per extension (inferred: the RP's behaviour here is undocumented)."""
    if extension.operation is not None:
        raise _ArmError(
            409,
            "Conflict",
            f"An operation ({extension.operation.activity}) is already in progress on extension '{extension.name}'. "
            "Please wait for it to finish before starting a new operation.",
        )


def _ha_failure(extension: Extension, activity: str) -> Failure | None:
    """Argo CD with redis-ha (the extension's default) never becomes ready on fewer than 3 nodes."""
    ha = extension.settings.get("redis-ha.enabled", "true").lower() != "false"
    if extension.extension_type.lower() == "microsoft.argocd" and ha and extension.cluster.node_count < 3:
        return Failure("ExtensionOperationFailed", ha_timeout_message("Create" if activity == "Creating" else "Update"))
    return None


def _parse_json(raw: bytes) -> tuple[Any, str | None]:
    if not raw:
        return None, None
    try:
        return json.loads(raw), None
    except ValueError as error:
        return None, str(error)


def _properties(body: Any, *, required: bool = True) -> Json:
    properties = body.get("properties") if isinstance(body, dict) else None
    if isinstance(properties, dict):
        return properties
    if required or properties is not None:
        raise _ArmError(400, "InvalidRequestContent", "The request body must contain an object 'properties'.")
    return {}


def _string_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _ArmError(400, "InvalidRequestContent", f"The property '{name}' must be a map of strings.")
    return dict(value)


def _merge(current: dict[str, str], patch: Any, name: str) -> dict[str, str]:
    if patch is None:
        return dict(current)
    if not isinstance(patch, dict) or not all(v is None or isinstance(v, str) for v in patch.values()):
        raise _ArmError(400, "InvalidRequestContent", f"The property '{name}' must be a map of strings.")
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _credential_from(name: str, body: Any) -> FederatedCredential:
    properties = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(properties, dict) or not properties:
        raise _ArmError(400, "BadRequest", "Federated Identity Credential from HTTP body has empty properties")
    audiences = properties.get("audiences")
    if not isinstance(audiences, list) or len(audiences) != 1 or not isinstance(audiences[0], str):
        raise _ArmError(400, "BadRequest", "Federated identity credentials must have exactly one audience.")
    issuer, subject = properties.get("issuer"), properties.get("subject")
    if not isinstance(issuer, str) or not issuer or not isinstance(subject, str) or not subject:
        raise _ArmError(
            400, "BadRequest", "The properties 'issuer' and 'subject' of a Federated Identity Credential are required."
        )
    return FederatedCredential(name, issuer, subject, list(audiences))
