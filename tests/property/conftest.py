"""A local Azure whose profiles let requests override chart values, RBAC and the URL (the hostile-input tests)."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from localazure.azurite import Azurite
from localazure.stack import LocalAzure

ROOT = Path(__file__).resolve().parent.parent.parent
OPEN_PROFILE = """description: lets requests override what hostile input would aim at
overridable: [helmValues, rbac, url]
"""


@pytest.fixture
def open_azure(azurite: Azurite, tmp_path: Path) -> Iterator[LocalAzure]:
    for profile in (ROOT / "profiles").glob("*.yaml"):
        shutil.copy(profile, tmp_path)
    (tmp_path / "open.yaml").write_text(OPEN_PROFILE)
    with LocalAzure(azurite=azurite, settings={"PROFILES_DIR": str(tmp_path)}) as az:
        yield az
