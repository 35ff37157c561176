"""The local Azure Resource Graph: POST `/providers/Microsoft.ResourceGraph/resources`, over the same clusters,
extensions and identities as the local ARM.

Serves the query subset in `localazure.arm.kql` (the service's templates; anything else is refused with Resource
Graph's 400 InvalidQuery). The request is Resource Graph's (`subscriptions`, at most 1000; `query`; `options` with
`$top` 1-1000, default 100, `$skip`, `$skipToken`, `resultFormat` objectArray only), and so is the answer
(`totalRecords`, `count`, `resultTruncated`, `$skipToken` while rows are left, `data`). A query's rows are fixed at
its first page, so its later pages read the same result. Rows are those of the `resources` table (clusters and
user-assigned identities: id, name, type lower-cased, tenantId, location, resourceGroup, subscriptionId, tags,
properties, identity) and of `kubernetesconfigurationresources` (extensions, the same columns): no `systemData`, as
in Azure. A caller sees the rows of the types it may read (`set_permissions`); Resource Graph has no action of its
own to check.

Switches for tests and benchmarks (`set_resource_graph`): `lag` seconds (the view is ARM's state when it was last
indexed, re-indexed once it is that old: a change shows up to `lag` later), `refuse` (403 AuthorizationFailed, as
for a caller without read access to any of the subscriptions; or 404, as in a cloud that does not serve it), and a
`quota` of queries per window per caller on real time (Microsoft's example: 15 per 5 s; off by default), with
`x-ms-user-quota-remaining` and `x-ms-user-quota-resets-after` on every answer and 429 `RateLimiting` beyond it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from localazure.arm.common import Json, new_guid
from localazure.arm.extensions import ExtensionRoutes
from localazure.arm.identities import IdentityRoutes
from localazure.arm.kql import TABLES, parse
from localazure.arm.request import ArmError, Call, allow
from localazure.arm.server import Reply

MAX_SUBSCRIPTIONS = 1000
MAX_TOP = 1000
DEFAULT_TOP = 100
_KEPT_RESULTS = 64  # queries whose later pages can still be asked for
_UNLIMITED = (15, 5.0)  # the headers an unlimited quota shows: Microsoft's example, never spent


@dataclass
class _GraphSettings:
    lag: float = 0.0
    refuse: int | None = None  # 403 or 404
    quota: tuple[int, float] | None = None  # queries per window (seconds of real time)
    indexed: dict[str, list[Json]] | None = None  # table -> rows, as of `indexed_at` (with a lag)
    indexed_at: float = 0.0
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)  # caller -> (window start, queries)
    results: OrderedDict[str, list[Json]] = field(default_factory=OrderedDict)  # skipToken id -> the rows


class ResourceGraphRoutes(ExtensionRoutes, IdentityRoutes):
    """Reads the clusters (with their extensions) and the identities; the lock is the emulator's."""

    _lock: threading.Lock
    _clock: Callable[[], float]

    def __init__(self) -> None:
        super().__init__()
        self._graph_settings = _GraphSettings()

    def set_resource_graph(self, *, lag: float | None = None, refuse: int | None = None,
                           quota: tuple[int, float] | None = None, unlimited: bool = False) -> None:
        """Lag (seconds on the emulator's clock; indexed now), refuse (403 or 404; 0 serves again), quota (queries,
        window seconds), `unlimited` to drop the quota. What is not given stays as it was."""
        if refuse not in (None, 0, 403, 404):
            raise ValueError("refuse with 403 (no rights) or 404 (not served), or 0 to serve again")
        with self._lock:
            graph = self._graph_settings
            if lag is not None:
                now = self._clock()
                graph.lag, graph.indexed, graph.indexed_at = lag, self._rows(now), now
            if refuse is not None:
                graph.refuse = refuse or None
            if quota is not None or unlimited:
                graph.quota, graph.windows = (None if unlimited else quota), {}

    def _resource_graph(self, call: Call) -> Reply:
        allow(call, "POST")
        graph = self._graph_settings
        if graph.refuse == 404:
            raise ArmError(404, "InvalidResourceNamespace", "The resource namespace 'Microsoft.ResourceGraph' is "
                           "invalid.")
        if graph.refuse == 403:
            raise ArmError(403, "AuthorizationFailed", f"The client '{call.caller}' does not have authorization to "
                           "read any of the subscriptions of the query, or the scope is invalid.")
        headers = self._spend_quota(call.caller)
        body = call.body if isinstance(call.body, dict) else {}
        subscriptions = body.get("subscriptions")
        if not isinstance(subscriptions, list) or not subscriptions or len(subscriptions) > MAX_SUBSCRIPTIONS or \
                not all(isinstance(s, str) for s in subscriptions):
            raise ArmError(400, "BadRequest", f"'subscriptions' must list 1 to {MAX_SUBSCRIPTIONS} subscription ids "
                           "(the local Resource Graph serves subscription scopes only).", headers=headers)
        sent = body.get("options")
        options: Json = sent if isinstance(sent, dict) else {}
        if options.get("resultFormat", "objectArray") != "objectArray":
            raise ArmError(400, "BadRequest", "The local Resource Graph answers resultFormat objectArray only.",
                           headers=headers)
        top = options.get("$top", DEFAULT_TOP)
        if not isinstance(top, int) or not 1 <= top <= MAX_TOP:
            raise ArmError(400, "BadRequest", f"$top must be 1 to {MAX_TOP}.", headers=headers)
        rows, offset = self._result(call, body.get("query"), {s.lower() for s in subscriptions}, options, headers)
        page = rows[offset:offset + top]
        answer: Json = {"totalRecords": len(rows), "count": len(page), "resultTruncated": "false", "data": page,
                        "facets": []}
        if offset + top < len(rows):
            answer["$skipToken"] = self._keep(rows, offset + top)
        return Reply(200, answer, headers)

    def _result(self, call: Call, query: Any, subscriptions: set[str], options: Json,
                headers: dict[str, str]) -> tuple[list[Json], int]:
        """The query's rows and where this page starts: from a skipToken's kept result, or run now."""
        token = options.get("$skipToken")
        if token:
            ident, _, offset = str(token).partition(":")
            rows = self._graph_settings.results.get(ident)
            if rows is None or not offset.isdigit():
                raise ArmError(400, "BadRequest", "The $skipToken is invalid or has expired.", headers=headers)
            return rows, int(offset)
        if not isinstance(query, str):
            raise ArmError(400, "BadRequest", "'query' is required.", headers=headers)
        parsed = parse(query)
        visible = [row for row in self._table(parsed.table, call.now)
                   if str(row.get("subscriptionId", "")).lower() in subscriptions and
                   self._permissions.may(call.caller, f"{row['type']}/read")]
        skip = options.get("$skip", 0)
        return parsed.run(visible), skip if isinstance(skip, int) and skip >= 0 else 0

    def _keep(self, rows: list[Json], offset: int) -> str:
        results = self._graph_settings.results
        ident = next((k for k, v in results.items() if v is rows), None) or new_guid()
        results[ident] = rows
        while len(results) > _KEPT_RESULTS:
            results.popitem(last=False)
        return f"{ident}:{offset}"

    def _table(self, table: str, now: float) -> list[Json]:
        """The table's rows: live, or as last indexed when the view lags."""
        graph = self._graph_settings
        if graph.lag <= 0:
            return self._rows(now, (table,))[table]
        if graph.indexed is None or now - graph.indexed_at >= graph.lag:
            graph.indexed, graph.indexed_at = self._rows(now), now
        return graph.indexed[table]

    def _rows(self, now: float, tables: tuple[str, ...] = TABLES) -> dict[str, list[Json]]:
        """The tables' rows from ARM's state now (only those asked for: a body per resource is not free)."""
        self._settle(now)
        rows: dict[str, list[Json]] = {table: [] for table in tables}
        for cluster in self._clusters.values():
            if "resources" in rows:
                rows["resources"].append(self._row(cluster.body(cluster.kind.latest_api, now), cluster.subscription,
                                                   cluster.resource_group))
            if "kubernetesconfigurationresources" in rows:
                rows["kubernetesconfigurationresources"].extend(
                    self._row(e.body(), cluster.subscription, cluster.resource_group)
                    for e in cluster.extensions.values())
        if "resources" in rows:
            rows["resources"].extend(self._row(i.body("2023-01-31"), i.subscription, i.resource_group)
                                     for i in self._identities.values())
        return rows

    def _row(self, body: Json, subscription: str, resource_group: str) -> Json:
        row = {k: v for k, v in body.items() if k != "systemData"}
        row.update(type=str(body["type"]).lower(), tenantId=self.tenant_id, subscriptionId=subscription,
                   resourceGroup=resource_group.lower(), tags=body.get("tags") or {})
        return row

    def _spend_quota(self, caller: str) -> dict[str, str]:
        """Count the query against the caller's window; its headers, or 429 when the window is spent."""
        graph = self._graph_settings
        if graph.quota is None:
            limit, window = _UNLIMITED
            return _quota_headers(limit, window)
        limit, window = graph.quota
        now = time.monotonic()
        start, used = graph.windows.get(caller, (now, 0))
        if now - start >= window:
            start, used = now, 0
        left = window - (now - start)
        if used >= limit:
            headers = {**_quota_headers(0, left), "Retry-After": str(max(1, math.ceil(left)))}
            raise ArmError(429, "RateLimiting", "Please provide below info when asking for support: timestamp = "
                           "(local), correlationId = (local). The request was throttled.", headers=headers)
        graph.windows[caller] = (start, used + 1)
        return _quota_headers(limit - used - 1, left)


def _quota_headers(remaining: int, seconds: float) -> dict[str, str]:
    whole = max(0, math.ceil(seconds))
    return {"x-ms-user-quota-remaining": str(remaining),
            "x-ms-user-quota-resets-after": f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"}
