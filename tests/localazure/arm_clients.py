"""What the emulator test modules pass the real SDK clients: the subscription, the scope they ask tokens for, and
the options that point a client at the local ARM and trust its CA."""
from __future__ import annotations

from typing import Any

from localazure.arm.emulator import ArmEmulator

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
SCOPE = "https://management.azure.com/.default"


def options(emu: ArmEmulator, **extra: Any) -> dict[str, Any]:
    return {"base_url": emu.url, "connection_verify": emu.ca_path, "credential_scopes": [SCOPE], **extra}
