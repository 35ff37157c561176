"""Collects the ARM requests of every test that used the local Azure, for the custom role's coverage test.

A conftest's own hooks only see the tests beside it, so this registers a plugin that sees the whole session. Before
each test that has a LocalAzure among its fixture values (`local_azure`, `platform_azure`, ...) runs, it swaps the
emulator's request log for a list that also copies every entry into the recorder, so requests a test later drops
with `arm.clear_log()` are kept too. The role tests in test_role_coverage.py are moved to the end of the run so
they see everything the other tests did.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, SupportsIndex

import pytest

from localazure.stack import LocalAzure

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "tests" / "e2e"
ROLE_TESTS = Path(__file__).resolve().parent / "test_role_coverage.py"


class _TeeLog(list[Any]):
    """The emulator's request log, copying each appended request (method, path) into a set the log cannot clear."""

    def __init__(self, entries: Iterable[Any], sink: set[tuple[str, str]]) -> None:
        super().__init__(entries)
        self._sink = sink
        sink.update((r.method, r.path) for r in self)

    def append(self, entry: Any) -> None:
        self._sink.add((entry.method, entry.path))
        super().append(entry)

    def insert(self, index: SupportsIndex, entry: Any) -> None:
        self._sink.add((entry.method, entry.path))
        super().insert(index, entry)


class ArmRequestRecorder:
    def __init__(self) -> None:
        self.requests: set[tuple[str, str]] = set()
        self.tests_with_requests: set[str] = set()
        self.finished: set[str] = set()
        self.e2e_in_session: set[tuple[str, str]] = set()
        self.local_azure_tests: set[str] = set()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        last = [item for item in items if item.path == ROLE_TESTS]
        items[:] = [item for item in items if item.path != ROLE_TESTS] + last

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            if item.path.is_relative_to(E2E):
                self.e2e_in_session.add((item.path.name, getattr(item, "originalname", item.name)))
            uses_local_azure = "local_azure" in getattr(item, "fixturenames", ()) or item.path.is_relative_to(E2E)
            if uses_local_azure and item.path != ROLE_TESTS:
                self.local_azure_tests.add(item.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        for az in _local_azures(item):
            if not isinstance(az.arm.requests, _TeeLog):
                az.arm.requests = _TeeLog(az.arm.requests, self.requests)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        for az in _local_azures(item):
            self.requests.update((r.method, r.path) for r in az.arm.requests)
            self.tests_with_requests.add(item.nodeid)
        self.finished.add(item.nodeid)

    def whole_e2e_suite_ran(self) -> bool:
        """Every test function in tests/e2e was in this session, and every local-Azure test finished before now."""
        everything = {(path.name, node.name) for path in E2E.glob("test_*.py")
                      for node in ast.parse(path.read_text()).body
                      if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
        return bool(everything) and everything <= self.e2e_in_session and self.local_azure_tests <= self.finished


def _local_azures(item: pytest.Item) -> list[LocalAzure]:
    return [value for value in (getattr(item, "funcargs", None) or {}).values() if isinstance(value, LocalAzure)]


_recorder = ArmRequestRecorder()


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.is_registered(_recorder):
        config.pluginmanager.register(_recorder, "argoboot-arm-request-recorder")


@pytest.fixture
def arm_recorder() -> Iterator[ArmRequestRecorder]:
    yield _recorder
