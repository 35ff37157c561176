"""A local Key Vault (secrets only) that the real `SecretClient` reads over HTTPS, challenge auth and all.

Vaults are named `<vault>.vault.localhost` (the service's KEY_VAULT_DNS_SUFFIX is `vault.localhost` here), with a
certificate from the ARM emulator's CA. Those names do not resolve on this machine, so a loopback HTTP CONNECT
proxy (HTTPS_PROXY, with NO_PROXY for the other local parts) plays DNS: it tunnels `*.vault.localhost:443` to the
vault's port and refuses every other host. The client still sends the vault's name in the TLS handshake and
checks the certificate for it, as it would in Azure.

Like Key Vault: a request without a token gets 401 and a `WWW-Authenticate` challenge naming the resource
`https://vault.localhost`; a token must have been issued by the local token endpoint for that resource;
`GET /secrets/<name>[/<version>]` answers the latest (or that) version, 404 `SecretNotFound` otherwise.
"""

from __future__ import annotations

import contextlib
import secrets as random
import select
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from localazure.arm.emulator import ArmEmulator
from localazure.arm.server import Incoming, Reply, Server

SUFFIX = "vault.localhost"
RESOURCE = f"https://{SUFFIX}"


@dataclass(frozen=True)
class VaultRequest:
    """One request as the vault saw it: which vault, what path, and how it ended."""

    vault: str
    method: str
    path: str
    status: int


class LocalKeyVault:
    """Start after the ARM emulator (it issues the tokens and holds the CA): `with LocalKeyVault(arm, clock):`."""

    def __init__(self, arm: ArmEmulator, clock: Callable[[], float]) -> None:
        self._arm = arm
        self._clock = clock
        self._secrets: dict[tuple[str, str], list[tuple[str, str, float]]] = {}  # (vault, name) -> versions
        self._lock = threading.Lock()
        self.requests: list[VaultRequest] = []
        self._server: Server | None = None
        self._proxy: _ConnectProxy | None = None

    def start(self) -> LocalKeyVault:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._arm.ca.issue_cert(f"*.{SUFFIX}").configure_cert(tls)
        self._server = Server(self._serve, tls)
        self._server.start()
        self._proxy = _ConnectProxy(self._server.port)
        threading.Thread(target=self._proxy.serve_forever, args=(0.05,), name="localazure-kv-proxy",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.shutdown()
            self._proxy.server_close()
            self._proxy = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> LocalKeyVault:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environ(self) -> dict[str, str]:
        """What a client needs: the vault suffix, and the proxy that resolves it (the rest bypasses it)."""
        assert self._proxy is not None, "start the vault first"
        return {"KEY_VAULT_DNS_SUFFIX": SUFFIX, "HTTPS_PROXY": f"http://127.0.0.1:{self._proxy.server_address[1]}",
                "NO_PROXY": "127.0.0.1"}  # not localhost: it would match *.vault.localhost

    def set_secret(self, vault: str, name: str, value: str) -> str:
        """A new version of the secret (a rotation when it exists); returns the version id."""
        version = random.token_hex(16)
        with self._lock:
            self._secrets.setdefault((vault.lower(), name.lower()), []).append((version, value, self._clock()))
        return version

    def secret_url(self, vault: str, name: str) -> str:
        return f"https://{vault}.{SUFFIX}/secrets/{name}"

    def _serve(self, incoming: Incoming) -> Reply:
        url = urlsplit(incoming.target)
        vault = incoming.headers.get("host", "").split(":")[0].lower().removesuffix(f".{SUFFIX}")
        reply = self._answer(incoming, vault, url.path, dict(parse_qsl(url.query)))
        with self._lock:
            self.requests.append(VaultRequest(vault, incoming.method, url.path, reply.status))
        return reply

    def _answer(self, incoming: Incoming, vault: str, path: str, query: dict[str, str]) -> Reply:
        scheme, _, token = incoming.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or self._arm.token_resource(token) != RESOURCE:
            challenge = (f'Bearer authorization="https://login.microsoftonline.com/{self._arm.tenant_id}", '
                         f'resource="{RESOURCE}"')
            return _error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                          {"WWW-Authenticate": challenge})
        if "api-version" not in query:
            return _error(400, "BadParameter", "The request URI contains an invalid or missing api-version.")
        parts = [p for p in path.split("/") if p]
        if incoming.method != "GET" or len(parts) not in (2, 3) or parts[0] != "secrets":
            return _error(400, "BadParameter", f"{incoming.method} {path} is not supported by the local vault.")
        with self._lock:
            versions = list(self._secrets.get((vault, parts[1].lower()), []))
        if len(parts) == 3:
            versions = [v for v in versions if v[0] == parts[2]]
        if not versions:
            return _error(404, "SecretNotFound", f"A secret with (name/id) {'/'.join(parts[1:])} was not found in "
                          "this key vault. If you recently deleted this secret you may be able to recover it using "
                          "the correct recovery command. For help resolving this issue, please see "
                          "https://go.microsoft.com/fwlink/?linkid=2125182")
        version, value, created = versions[-1]
        stamp = int(created) if created > 0 else int(datetime.now(UTC).timestamp())
        return Reply(200, {"value": value, "id": f"https://{vault}.{SUFFIX}/secrets/{parts[1]}/{version}",
                           "attributes": {"enabled": True, "created": stamp, "updated": stamp,
                                          "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
                           "tags": {}})


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, headers or {})


class _ConnectProxy(socketserver.ThreadingTCPServer):
    """HTTP CONNECT to `*.vault.localhost:443` is tunnelled to the vault's port; anything else gets 403."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, vault_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.vault_port = vault_port


class _Tunnel(socketserver.BaseRequestHandler):
    server: _ConnectProxy

    def handle(self) -> None:
        client: socket.socket = self.request
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, *_ = [*head.split(b"\r\n", 1)[0].decode("latin-1").split(" "), "", ""]
        host, _, port = target.rpartition(":")
        if method != "CONNECT" or not host.lower().endswith(f".{SUFFIX}") or port != "443":
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        with socket.create_connection(("127.0.0.1", self.server.vault_port)) as upstream:
            client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            _pipe(client, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until either side closes."""
    sockets: list[Any] = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 30)
        if not readable:
            return
        for sock in readable:
            with contextlib.suppress(OSError):
                data = sock.recv(65536)
                if not data:
                    return
                (b if sock is a else a).sendall(data)
                continue
            return
