"""Fixtures: one Azurite for the whole run, a fresh local Azure (emulator, bus, clock, tables) per test."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from localazure.azurite import Azurite
from localazure.stack import LocalAzure


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as running:
        yield running


@pytest.fixture
def local_azure(azurite: Azurite) -> Iterator[LocalAzure]:
    with LocalAzure(azurite=azurite) as az:
        yield az
