"""Calls the function app's functions the way the Functions host would, with real `azure.functions` inputs.

The real host cannot be installed offline; this indexes the app with `app.get_functions()` (the
same validation the worker runs) and decodes Event Grid payloads with the binding's own converter. HTTP routes
check keys as the host does (learn.microsoft.com/azure/azure-functions/function-keys-how-to, "Authorization
level"): `function` wants a function key or the master key, `admin` the master key only, in `x-functions-key` or
`?code=`; otherwise 401. The keys are made per host, never written anywhere.
"""
from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import unquote, urlencode

import azure.functions as func
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from azure.functions.timer import TimerRequest

ROUTE_PREFIX = "api"  # host.json extensions.http.routePrefix (not set: the default)


class FunctionsHost:
    """The indexed functions of one app, by name."""

    def __init__(self, app: Any) -> None:
        self.functions = {f.get_function_name(): f for f in app.get_functions()}  # get_functions() only once
        self.routes = [(name, _route_pattern(b["route"]), {m.upper() for m in b.get("methods") or ()},
                        str(b.get("authLevel", "function")).lower())
                       for name, f in sorted(self.functions.items())
                       for b in json.loads(f.get_function_json())["bindings"] if b["type"] == "httpTrigger"]
        self.keys = {"function": secrets.token_urlsafe(32), "master": secrets.token_urlsafe(32)}

    def call(self, name: str, *args: Any) -> Any:
        return self.functions[name].get_user_function()(*args)

    def deliver_event(self, event: dict[str, Any], function: str = "cluster_events") -> Any:
        """Deliver one Event Grid event (Event Grid schema or CloudEvents 1.0, picked by `specversion`)."""
        decoded = EventGridEventInConverter.decode(Datum(json.dumps(event), "json"), trigger_metadata={})
        return self.call(function, decoded)


    def run_timer(self, name: str, *, past_due: bool = False) -> Any:
        """Fire a timer function now, as its schedule would."""
        return self.call(name, TimerRequest(past_due=past_due))

    def http(self, method: str, path: str, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> func.HttpResponse:
        """Route a request as the host does: under `/api`, to the first HTTP function by name whose route
        and methods match (the host orders overlapping routes by name, not by specificity); 404 when none."""
        prefix = f"/{ROUTE_PREFIX}"
        if path.startswith(prefix + "/"):
            for name, pattern, methods, level in self.routes:
                found = pattern.fullmatch(path[len(prefix):])
                if found and (not methods or method.upper() in methods):
                    if not self._authorized(level, headers, params):
                        return func.HttpResponse(status_code=401)
                    route_params = {k: unquote(v) for k, v in found.groupdict(default="").items()}
                    url = f"http://localhost{path}" + (f"?{urlencode(params)}" if params else "")
                    response: func.HttpResponse = self.call(name, func.HttpRequest(
                        method=method.upper(), url=url, params=params or {}, route_params=route_params, body=b"",
                        headers=headers or {}))
                    return response
        return func.HttpResponse(status_code=404)

    def _authorized(self, level: str, headers: dict[str, str] | None, params: dict[str, str] | None) -> bool:
        given = {k.lower(): v for k, v in (headers or {}).items()}.get("x-functions-key") or (params or {}).get("code")
        allowed = {"anonymous": None, "function": (self.keys["function"], self.keys["master"]),
                   "admin": (self.keys["master"],)}.get(level, ())
        return allowed is None or (given is not None and any(secrets.compare_digest(given, k) for k in allowed))


def _route_pattern(template: str) -> re.Pattern[str]:
    """An ASP.NET-style route template (`a/{b}/{*rest}`, literals case-insensitive) as a regex over `/a/...`."""
    parts = []
    for segment in template.strip("/").split("/"):
        param = re.fullmatch(r"\{(\*?)(\w+)\}", segment)
        if param is None:
            parts.append("/" + re.escape(segment))
        elif param[1]:
            parts.append(f"(?:/(?P<{param[2]}>.*))?")  # a catch-all also matches nothing
        else:
            parts.append(f"/(?P<{param[2]}>[^/]+)")
    return re.compile("".join(parts), re.IGNORECASE)


def as_cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    """The same resource event in the CloudEvents 1.0 schema, as an Event Grid subscription would send it."""
    return {"specversion": "1.0", "id": event["id"], "source": event["topic"], "subject": event["subject"],
            "type": event["eventType"], "time": event["eventTime"], "data": event["data"]}
