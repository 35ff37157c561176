"""The request and reply examples other teams copy from the docs match the schemas; the Python example compiles."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from localazure.contract import REQUEST_SCHEMA, RESULT_SCHEMA, violations
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.pipeline.rollout_request import RolloutRequest, parse_work_item

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]  # every page: an example moved stays checked
PLACEHOLDERS = {"<sub>": "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01", "<rg>": "rg-platform", "<name>": "aks-1"}
PLACEHOLDERS_ID = ("/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg-platform/providers/"
                   "Microsoft.ContainerService/managedClusters/aks-1")  # 137 characters lower-cased: a digest


def blocks(language: str) -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        found += [(doc.name, block) for block in re.findall(rf"```{language}\n(.*?)```", doc.read_text(), re.S)]
    return found


MESSAGES = [(name, block) for name, block in blocks("json") if '"schemaVersion"' in block]


@pytest.mark.parametrize(("doc", "block"), MESSAGES)
def test_message_examples_match_their_schema(doc: str, block: str) -> None:
    for placeholder, value in PLACEHOLDERS.items():
        block = block.replace(placeholder, value)
    if re.search(r'"action": "rollout-', block) and '"outcome"' not in block:  # the work queue's rollout action
        request = parse_work_item(block.encode(), message_id="docs-example")  # no JSON schema: its parser decides
        assert isinstance(request, RolloutRequest), (doc, block)
        return
    schema = RESULT_SCHEMA if '"outcome"' in block else REQUEST_SCHEMA
    assert violations(schema, block.encode()) == [], (doc, block)


def test_there_are_request_and_reply_examples_and_a_python_one() -> None:
    assert {'"outcome"' in block for _, block in MESSAGES} == {True, False}
    [example] = [block for name, block in blocks("python") if name == "integration.md"]
    compile(example, "docs/integration.md", "exec")
    assert "session_id=session_id(cluster_id)" in example and "correlation_id" in example
    namespace: dict[str, object] = {}
    exec(example.split("def request_bootstrap")[0], namespace)  # the imports, constants and session_id()
    for cluster_id in ("/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg/providers/"
                       "Microsoft.Kubernetes/connectedClusters/arc-1", PLACEHOLDERS_ID):
        assert namespace["session_id"](cluster_id) == parse_cluster_id(cluster_id).session_id  # type: ignore[operator]
