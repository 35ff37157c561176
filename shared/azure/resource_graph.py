"""Azure Resource Graph over the real SDK client (`azure-mgmt-resourcegraph`): one query over many subscriptions,
every page of it, within the caller's query quota.

Used by `shared.pipeline.fleet_view` (the sweep's view of the fleet). The query API is POST
`/providers/Microsoft.ResourceGraph/resources` (../shared/reference/azure-contract/api-versions.md section 7; the
client's own default, 2021-03-01, is published too, but 2024-04-01 is the newest stable). It needs no action of its
own: Resource Graph returns the rows the caller may read (Microsoft's "Permissions in Azure Resource Graph"), so the
role's cluster, extension and identity reads are what it checks (infra/bootstrapper-role.json gains nothing).

Paging: `$top` at most 1000 rows (the spec's `QueryRequestOptions.top` maximum), `$skipToken` followed to the end,
`resultFormat: objectArray`; at most 1000 subscriptions per request (Microsoft's "Troubleshoot errors using Azure
Resource Graph": the REST API takes no more), so a larger allowlist is queried in batches.

Quota (Microsoft's "Guidance for throttled requests in Azure Resource Graph"): every answer carries
`x-ms-user-quota-remaining` (queries left to this principal) and `x-ms-user-quota-resets-after` (hh:mm:ss until the
window resets). `QuotaPolicy` keeps them, and before each attempt, as `shared.azure.pacing_policy` does for ARM's
buckets: with no query left, a short wait (up to `MAX_SLEEP`) is slept, a longer one is not sent at all but raised
as `AzureError` 429 `ResourceGraphQuotaPaced` with `retry_after` (the sweep then waits for its next timer); a 429
from Resource Graph empties the quota until its reset (or Retry-After). The quota is real time, on Azure's side.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy

from shared.azure.errors import AzureError

#: POST /providers/Microsoft.ResourceGraph/resources: the newest stable api-version the specs publish (section 7).
RESOURCE_GRAPH_API_VERSION = "2024-04-01"
PAGE_SIZE = 1000  # QueryRequestOptions.top's maximum in resourcegraph.json
SUBSCRIPTIONS_PER_QUERY = 1000  # the REST API's limit per request
QUOTA_PACED = "ResourceGraphQuotaPaced"
#: The longest quota wait slept inside a sweep: Microsoft's example window is 5 s, and a sweep is a timer function
#: with minutes to run, so waiting out a window beats deferring the whole sweep; a longer reset defers it.
MAX_SLEEP = 10.0
REMAINING_HEADER = "x-ms-user-quota-remaining"
RESETS_HEADER = "x-ms-user-quota-resets-after"


def resets_after(text: str | None) -> float | None:
    """`hh:mm:ss` (fractions allowed) as seconds; None when absent or unreadable."""
    parts = (text or "").strip().split(":")
    try:
        hours, minutes, seconds = (float(p) for p in parts) if len(parts) == 3 else (None, None, None)
    except ValueError:
        return None
    if hours is None or minutes is None or seconds is None or min(hours, minutes, seconds) < 0:
        return None
    return hours * 3600 + minutes * 60 + seconds


class Quota:
    """What Resource Graph last said is left of this principal's query quota, and when it resets (on `clock`)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._remaining: int | None = None  # None: not told yet
        self._resets_at = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Seconds until a query may be sent (0: now)."""
        with self._lock:
            now = self._clock()
            if self._remaining is None or self._remaining > 0 or now >= self._resets_at:
                return 0.0
            return self._resets_at - now

    def told(self, headers: Mapping[str, str], throttled: bool) -> None:
        """Keep what an answer's headers say; a 429 leaves nothing until the reset (or its Retry-After)."""
        remaining = headers.get(REMAINING_HEADER)
        reset = resets_after(headers.get(RESETS_HEADER))
        retry = headers.get("Retry-After")
        with self._lock:
            now = self._clock()
            if remaining is not None and remaining.strip().isdigit():
                self._remaining = int(remaining)
            if throttled:
                self._remaining = 0
                if retry is not None and retry.strip().isdigit():
                    reset = max(reset or 0.0, float(retry))
            if reset is not None:
                self._resets_at = now + reset


class QuotaPolicy(HTTPPolicy[Any, Any]):
    """Asks the `Quota` before each attempt (azure-core's retries included) and tells it every answer."""

    def __init__(self, quota: Quota, *, sleep: Callable[[float], None], max_sleep: float) -> None:
        super().__init__()
        self._quota = quota
        self._sleep = sleep
        self._max_sleep = max_sleep

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        wait = self._quota.wait()
        if wait > self._max_sleep:
            raise AzureError(429, QUOTA_PACED, f"Resource Graph's query quota is spent; it resets in {wait:.0f} s "
                             "(x-ms-user-quota-resets-after): the query was not sent", wait)
        if wait > 0:
            self._sleep(wait)
        response = self.next.send(request)
        self._quota.told(response.http_response.headers, response.http_response.status_code == 429)
        later = self._quota.wait()
        if response.http_response.status_code == 429 and later > self._max_sleep:
            raise AzureError(429, "RateLimiting", "Resource Graph throttled the query", later)
        return response


class ResourceGraphGateway:
    """The sweep's window on Resource Graph (implements `shared.azure.api.ResourceGraphApi`)."""

    def __init__(self, credential: Any, *, endpoint: str, ca_bundle: str | None = None, retry_backoff: float = 0.8,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 max_sleep: float = MAX_SLEEP, page_size: int = PAGE_SIZE) -> None:
        self.quota = Quota(clock)
        self.page_size = page_size
        self._policy = QuotaPolicy(self.quota, sleep=sleep, max_sleep=max_sleep)
        self._credential = credential
        self._options: dict[str, Any] = {"base_url": endpoint, "retry_backoff_factor": retry_backoff}
        if ca_bundle:
            self._options["connection_verify"] = ca_bundle
        self._client: Any = None
        self._lock = threading.Lock()

    def _graph(self) -> Any:
        from azure.mgmt.resourcegraph import ResourceGraphClient

        from shared.azure.arm_gateway import ARM_SCOPE, without_auto_registration

        with self._lock:
            if self._client is None:
                self._client = without_auto_registration(ResourceGraphClient(
                    self._credential, credential_scopes=[ARM_SCOPE], api_version=RESOURCE_GRAPH_API_VERSION,
                    per_retry_policies=[self._policy], **self._options))
            return self._client

    def query(self, query: str, subscriptions: Sequence[str]) -> list[dict[str, Any]]:
        """Every row the query returns over the subscriptions (objectArray rows, in Resource Graph's order)."""
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        from shared.azure.arm_gateway import _azure_errors  # the gateway's translation of azure-core's errors

        ordered = sorted(set(subscriptions))
        rows: list[dict[str, Any]] = []
        for start in range(0, len(ordered), SUBSCRIPTIONS_PER_QUERY):
            batch, token = ordered[start:start + SUBSCRIPTIONS_PER_QUERY], None
            while True:
                options = QueryRequestOptions(top=self.page_size, skip_token=token, result_format="objectArray")
                with _azure_errors():
                    page = self._graph().resources(QueryRequest(subscriptions=batch, query=query, options=options))
                if not isinstance(page.data, list):
                    raise AzureError(200, "UnreadableAnswer", "Resource Graph answered without an objectArray")
                rows.extend(row for row in page.data if isinstance(row, dict))
                token = page.skip_token
                if not token:
                    if str(page.result_truncated).lower() == "true":
                        raise AzureError(200, "ResultTruncated", "Resource Graph truncated the answer without a "
                                         "$skipToken: the view is incomplete")
                    break
        return rows
