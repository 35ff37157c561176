"""Errors that say what to do with them, so handlers can settle messages without guessing.

Modelled on kopf's PermanentError / TemporaryError: the reconciler raises or returns these, the
queue handler turns them into a recorded failure, a scheduled retry or a dead-letter.
"""
from __future__ import annotations


class BootstrapError(Exception):
    """Base class: `code` is machine-readable (Azure's code where Azure said it), `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PermanentError(BootstrapError):
    """Retrying cannot help until someone changes something; the message says what."""


class TransientError(BootstrapError):
    """Likely to pass: retry after `delay` seconds."""

    def __init__(self, code: str, message: str, delay: float = 30.0) -> None:
        super().__init__(code, message)
        self.delay = delay


class RequestRejected(Exception):
    """A message that can never be processed: dead-letter it with this reason and description."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(f"{reason}: {description}")
        self.reason = reason
        self.description = description


class ProfileError(ValueError):
    """A profile (or a request's overrides) is invalid; the message names where, which key and the fix."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem
