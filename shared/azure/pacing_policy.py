"""The azure-core side of `shared.azure.pacing`: a pipeline policy that asks the instance's `Pacer` before each attempt
of an ARM request and tells it what ARM answered.

`shared.azure.arm_gateway.ArmGateway` puts one in every ARM client it builds, right after azure-core's RetryPolicy,
so each attempt is paced and each reply seen. ARM's remaining-requests headers lower the pacer's buckets; a 429 empties
them until its Retry-After and halves their believed refill, which each request ARM grants raises again. A
Retry-After up to `ARM_PACE_MAX_SLEEP_SECONDS` is left to azure-core, which sleeps it and retries (at most 3 times);
a longer one is not slept: it is raised at once as the `AzureError` ARM sent (status 429, with `retry_after`), which
the reconciler turns into a WAITING outcome and a continuation.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy

from shared.azure.errors import AzureError
from shared.azure.pacing import Pacer, arm_request_keys


class PacingPolicy(HTTPPolicy[Any, Any]):
    """One per pipeline (azure-core chains policies through `next`); the `Pacer` behind it is shared."""

    def __init__(self, pacer: Pacer) -> None:
        super().__init__()
        self._pacer = pacer

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        target = arm_request_keys(request.http_request.method, request.http_request.url)
        if target is None:
            return self.next.send(request)
        holder, keys = target
        self._pacer.acquire(holder, keys)
        response = self.next.send(request)
        reply = response.http_response
        for key in keys:
            remaining = reply.headers.get(f"x-ms-ratelimit-remaining-subscription-{key[1]}")
            if remaining is not None and remaining.isdigit():
                self._pacer.remaining(key, int(remaining))
        retry_after = _retry_after(reply.headers)
        if reply.status_code != 429:
            self._pacer.granted(keys)
        elif retry_after is not None:
            self._pacer.throttled(keys, retry_after)
            if retry_after > self._pacer.max_sleep:
                raise _throttled(reply, retry_after)
        return response


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    return float(value) if value is not None and value.strip().isdigit() else None


def _throttled(reply: Any, retry_after: float) -> AzureError:
    """ARM's 429 as the service's error, with ARM's own code and message."""
    try:
        error = json.loads(reply.text())["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "TooManyRequests", f"ARM throttled {reply.request.method} {reply.request.url}"
    return AzureError(429, code, message, retry_after)
