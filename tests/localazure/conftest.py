"""What both emulator test modules use: the virtual clock, and the credential the service uses in Azure.

Each module has its own `emu` (the emulator in the state its tests start from); `credential` finds it.
"""
from __future__ import annotations

import pytest
from azure.identity import DefaultAzureCredential

from localazure.arm.emulator import ArmEmulator
from localazure.clock import VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def credential(emu: ArmEmulator, monkeypatch: pytest.MonkeyPatch) -> DefaultAzureCredential:
    """DefaultAzureCredential finding the Functions-style managed identity, and nothing else."""
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
                 "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", emu.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", emu.identity_header)
    return DefaultAzureCredential()
