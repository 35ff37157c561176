"""Fixtures: one Azurite for the whole run, a fresh local Azure (emulator, bus, clock, tables) per test."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from localazure.arm.subscriptions import REGISTERED
from localazure.azurite import Azurite
from localazure.stack import SUBSCRIPTION, LocalAzure

# Hypothesis profiles: `ci` (the default) keeps the suite's run time reasonable; `./dev test
# --hypothesis-profile=thorough` runs twenty times as many examples. Tests that set no max_examples use them.
# The local Azure fixtures are function-scoped on purpose: examples share one stack and stay independent by
# their ids and by moving its clock.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
settings.register_profile("ci", max_examples=40, **_COMMON)
settings.register_profile("thorough", max_examples=800, **_COMMON)
settings.load_profile("ci")  # the pytest plugin loads --hypothesis-profile after this, when given

ROOT = Path(__file__).resolve().parent.parent
#: The SSO application the test profiles name (tests/profiles/platform.yaml).
SSO_CLIENT_ID = "5e3c1c4a-8d2e-4b7a-9f11-0c6a2b7d9e10"


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as running:
        yield running


@pytest.fixture
def local_azure(azurite: Azurite) -> Iterator[LocalAzure]:
    with LocalAzure(azurite=azurite, provider_states=REGISTERED) as az:
        yield az


@pytest.fixture
def platform_azure(azurite: Azurite, tmp_path: Path) -> Iterator[LocalAzure]:
    """The local Azure with the repository's profiles plus the test profiles (tests/profiles), the SSO
    application and the container registry those profiles name."""
    for profile in (*(ROOT / "profiles").glob("*.yaml"), *(ROOT / "tests" / "profiles").glob("*.yaml")):
        shutil.copy(profile, tmp_path)
    with LocalAzure(azurite=azurite, provider_states=REGISTERED, settings={"PROFILES_DIR": str(tmp_path)}) as az:
        az.arm.add_application("argocd-sso", app_id=SSO_CLIENT_ID)
        az.arm.add_registry(SUBSCRIPTION, "rg-shared", "platformacr")
        yield az
