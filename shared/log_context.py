"""Ids on every log line of one message's processing: the cluster, the request and the correlation id.

`RequestProcessor.process` opens a scope per message and adds the cluster and the request once it has
parsed the body; loggers from `get_logger` copy the scope's ids onto each record as attributes
(`cluster_id`, `request_id`, `correlation_id`), which Application Insights keeps as custom dimensions
and a formatter can print. A context variable, so invocations on the worker's threads never mix ids.

The same filter makes every string argument and id printable (`shared.untrusted`): values from outside (a
session id, an event id, a reason) cannot split a record into lines that look like the service's own.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from shared.untrusted import printable

LOG_IDS = ("cluster_id", "request_id", "correlation_id")

_scope: ContextVar[dict[str, str] | None] = ContextVar("argoboot_log_ids", default=None)


@contextmanager
def log_scope(**ids: str | None) -> Iterator[None]:
    """Put these ids (the ones not None) on every record logged through `get_logger` loggers until exit."""
    token = _scope.set({name: value for name, value in ids.items() if value})
    try:
        yield
    finally:
        _scope.reset(token)


def add_log_ids(**ids: str | None) -> None:
    """Add or correct ids learnt mid-way (the cluster and request, once the body is parsed) in the open scope."""
    scope = _scope.get()
    if scope is not None:
        scope.update({name: value for name, value in ids.items() if value})


class _ScopeIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_scope.get() or {}).items():
            if not hasattr(record, name):  # an explicit `extra=` wins
                setattr(record, name, printable(value))
        if isinstance(record.args, tuple):
            record.args = tuple(_printable(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _printable(arg) for key, arg in record.args.items()}
        return True


def _printable(arg: Any) -> Any:
    """Strings and exceptions (whose text may quote input) escaped; numbers and the rest as they are, for %d."""
    if isinstance(arg, str | BaseException):
        return printable(str(arg))
    return arg


_FILTER = _ScopeIds()


def get_logger(name: str) -> logging.Logger:
    """A logger whose records carry the scope's ids (a logger's filter sees only its own records, so every
    module logs through one of these)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
