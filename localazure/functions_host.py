"""Calls the function app's functions the way the Functions host would, with real `azure.functions` inputs.

The real host cannot be installed offline; this indexes the app with `app.get_functions()` (the
same validation the worker runs) and decodes Event Grid payloads with the binding's own converter.
"""
from __future__ import annotations

import json
from typing import Any

from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum


class FunctionsHost:
    """The indexed functions of one app, by name."""

    def __init__(self, app: Any) -> None:
        self.functions = {f.get_function_name(): f for f in app.get_functions()}  # get_functions() only once

    def call(self, name: str, *args: Any) -> Any:
        return self.functions[name].get_user_function()(*args)

    def deliver_event(self, event: dict[str, Any], function: str = "cluster_events") -> Any:
        """Deliver one Event Grid event (Event Grid schema or CloudEvents 1.0, picked by `specversion`)."""
        decoded = EventGridEventInConverter.decode(Datum(json.dumps(event), "json"), trigger_metadata={})
        return self.call(function, decoded)


def as_cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    """The same resource event in the CloudEvents 1.0 schema, as an Event Grid subscription would send it."""
    return {"specversion": "1.0", "id": event["id"], "source": event["topic"], "subject": event["subject"],
            "type": event["eventType"], "time": event["eventTime"], "data": event["data"]}
