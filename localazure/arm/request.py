"""What every route handler of the local ARM works with: the parsed request and the ARM error envelope.

Handlers raise `ArmError` from wherever they notice a problem; `localazure.arm.emulator` answers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from localazure.arm.common import Json
from localazure.arm.server import Reply

#: ARM's request kinds, by method: they pick the throttling bucket and label the request log.
_KINDS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete", "POST": "action"}


@dataclass(frozen=True)
class Call:
    """A parsed ARM request: segments keep the sent casing, `lower` is for matching."""

    method: str
    path: str
    segments: list[str]
    lower: list[str]
    query: dict[str, str]  # names lower-cased: ARM reads `api-version` and `api-Version` alike
    body: Any
    subscription: str | None
    now: float
    caller: str = ""  # the client id the bearer token was issued to (RBAC checks in `localazure.arm.access`)
    actor: tuple[str, str] = ("", "Application")  # who `systemData` records: (createdBy, createdByType)

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")

    @property
    def kind(self) -> str:
        return _KINDS.get(self.method, "action")

    @property
    def namespace(self) -> str | None:
        """The resource provider that owns the path: the namespace after the last `providers`."""
        for i in range(len(self.lower) - 2, 1, -1):
            if self.lower[i] == "providers":
                return self.segments[i + 1]
        return None


class ArmError(Exception):
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


def allow(call: Call, *methods: str) -> None:
    if call.method not in methods:
        raise ArmError(
            405,
            "MethodNotAllowed",
            f"The local ARM does not support {call.method} on '{call.path}' (only {', '.join(methods)}).",
        )


def string_map(value: Any, name: str) -> dict[str, str]:
    """A request's map of strings (tags, settings); absent means empty."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ArmError(400, "InvalidRequestContent", f"The property '{name}' must be a map of strings.")
    return dict(value)
