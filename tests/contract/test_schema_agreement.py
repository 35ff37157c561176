"""schemas/install-request.v1 and the parser (`shared.pipeline.install_request`) accept and refuse the same bodies.

The schema publishes the grammar of `shared.bootstrap.cluster_ids` and `shared.bootstrap.names` character for
character; hypothesis then checks that a validator of the schema and the parser agree, on valid bodies and on
bodies one character away (ASCII edges, Unicode case folds of the fixed words, control characters, dot segments).
"""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localazure.contract import REQUEST_SCHEMA, SCHEMAS, schema_validator
from shared.bootstrap.cluster_ids import (
    CLUSTER_ID_PATTERN,
    CLUSTER_NAME_PATTERN,
    RESOURCE_GROUP_PATTERN,
    InvalidClusterId,
    is_resource_group,
    parse_cluster_id,
)
from shared.bootstrap.names import PROFILE_NAME_PATTERN, REQUEST_ID_PATTERN
from shared.bootstrap.profiles import PROFILE_KEYS
from shared.errors import RequestRejected
from shared.pipeline.install_request import ACTIONS, parse_install_request
from shared.pipeline.rollout_request import parse_work_item


def schema_accepts(body: Any) -> bool:
    return bool(schema_validator(REQUEST_SCHEMA).is_valid(body))


def parser_accepts(body: Any) -> bool:
    try:
        parse_install_request(json.dumps(body).encode(), message_id="m-1")
    except RequestRejected:
        return False
    return True


def any_case(text: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(text), max_size=len(text)).map(
        lambda upper: "".join(c.upper() if u else c.lower() for c, u in zip(text, upper, strict=True)))


def cluster_ids() -> st.SearchStrategy[str]:
    kind = st.sampled_from(["Microsoft.ContainerService/managedClusters", "Microsoft.Kubernetes/connectedClusters"])
    return st.tuples(
        any_case("subscriptions"), st.uuids().map(str).flatmap(any_case), any_case("resourceGroups"),
        st.from_regex(RESOURCE_GROUP_PATTERN, fullmatch=True), any_case("providers"), kind.flatmap(any_case),
        st.from_regex(CLUSTER_NAME_PATTERN, fullmatch=True),
        st.sampled_from(["", "/", "//"]),
    ).map(lambda p: "/{}/{}/{}/{}/{}/{}/{}{}".format(*p))


valid_bodies = st.fixed_dictionaries(
    {"schemaVersion": st.sampled_from([1, 1.0]), "action": st.sampled_from(ACTIONS),
     "clusterResourceId": cluster_ids()},
    optional={"profile": st.one_of(st.none(), st.from_regex(PROFILE_NAME_PATTERN.strip("^$"), fullmatch=True)),
              "requestId": st.from_regex(REQUEST_ID_PATTERN.strip("^$"), fullmatch=True),
              "overrides": st.dictionaries(st.sampled_from(PROFILE_KEYS), st.integers() | st.text(max_size=5),
                                           max_size=3)})

# Characters that probe the patterns' edges: ASCII (slashes, dots, spaces, newlines), Unicode letters and digits,
# Unicode spaces and line separators, and the Unicode case folds of ASCII letters (the Kelvin sign folds to "k",
# the long s to "s", the dotted capital I to "i"): the grammar is ASCII-exact, so both must refuse them.
probe_chars = st.one_of(st.characters(codec="ascii"), st.sampled_from(
    ["é", "ª", "\u00a0", "\u2028", "\u0660", "\u212a", "\u017f", "\u0130", "\u0131", "\u202e"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=6), inner, max_size=3), max_leaves=5)


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """The text with one character inserted, replaced or removed."""
    at = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["insert", "replace", "delete"]))
    char = draw(probe_chars)
    if how == "insert":
        return text[:at] + char + text[at:]
    return text[:at] + (char if how == "replace" else "") + text[at + 1:]


@st.composite
def near_misses(draw: st.DrawFn) -> dict[str, Any]:
    """A valid body with one field changed, dropped or added."""
    body = draw(valid_bodies)
    name = draw(st.sampled_from(["schemaVersion", "action", "clusterResourceId", "profile", "requestId", "overrides",
                                 "extra"]))
    change = draw(st.sampled_from(["drop", "value", "mutate"]))
    if change == "drop":
        body.pop(name, None)
    elif change == "mutate" and isinstance(body.get(name), str):
        body[name] = draw(mutated(body[name]))
    else:
        body[name] = draw(json_values)
    return body


@settings(max_examples=150, deadline=None)
@given(body=valid_bodies)
def test_valid_requests_pass_the_schema_and_the_parser(body: dict[str, Any]) -> None:
    assert schema_accepts(body) and parser_accepts(body)


def assert_agree(body: Any) -> None:
    """The schema and the parser agree, except that the parser also takes a resource group with Unicode letters or
    digits, as Azure does (the schema publishes the ASCII subset; see shared.bootstrap.cluster_ids)."""
    schema, parser = schema_accepts(body), parser_accepts(body)
    if parser and not schema:
        group = body["clusterResourceId"].split("/")[4]
        assert not group.isascii() and is_resource_group(group), json.dumps(body)
        return
    assert schema == parser, json.dumps(body)


@settings(max_examples=400, deadline=None)
@given(body=near_misses())
def test_schema_and_parser_agree_on_near_misses(body: dict[str, Any]) -> None:
    assert_agree(body)


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(valid_bodies, near_misses()))
def test_what_the_public_queue_forwards_is_never_a_rollout_action(body: dict[str, Any]) -> None:
    """The intake forwards `to_body()` of what it parsed; the work queue reads that back as the same install request,
    never as an operator's rollout action (those are the work queue's, behind Azure's Send right on it)."""
    try:
        request = parse_install_request(json.dumps(body).encode(), message_id="m-1")
    except RequestRejected:
        return
    assert parse_work_item(json.dumps(request.to_body()).encode(), message_id="m-2") == request


@pytest.mark.parametrize("group", ["rg-café", "rg-cafe\u0301", "グループ", "rg-\u0660"])
def test_a_resource_group_with_unicode_letters_is_a_cluster_id(group: str) -> None:
    cluster = parse_cluster_id(f"/subscriptions/{uuid.UUID(int=1)}/resourceGroups/{group}/providers/"
                               "Microsoft.ContainerService/managedClusters/aks-1")
    assert cluster.resource_group == group  # passed to ARM as it came


@pytest.mark.parametrize("group", ["rg\u00a0x", "rg-\u2028", "rg-\u202e", "rg-\u00d7", "rg-é."])
def test_a_resource_group_with_other_characters_is_refused(group: str) -> None:
    with pytest.raises(InvalidClusterId, match="resourceGroups"):
        parse_cluster_id(f"/subscriptions/{uuid.UUID(int=1)}/resourceGroups/{group}/providers/"
                         "Microsoft.ContainerService/managedClusters/aks-1")


@settings(max_examples=200, deadline=None)
@given(body=json_values)
def test_schema_and_parser_agree_on_any_json(body: Any) -> None:
    assert_agree(body)


def test_overrides_are_shaped_like_a_profile() -> None:
    base = {"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": (
        "/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg/providers/"
        "Microsoft.Kubernetes/connectedClusters/arc-1")}
    for ok in ({}, {"rbac": {"policyCsv": "g, sre, role:admin"}}, {"helmValues": {"server.replicas": 2}}):
        assert schema_accepts(base | {"overrides": ok}) and parser_accepts(base | {"overrides": ok})
    for bad in ({"redis-ha.enabled": False}, {"bad key": 1}, ["ha"], "ha=on"):
        assert not schema_accepts(base | {"overrides": bad}) and not parser_accepts(base | {"overrides": bad})


def test_the_schema_publishes_the_service_grammar() -> None:
    properties = json.loads((SCHEMAS / REQUEST_SCHEMA).read_text())["properties"]
    assert properties["clusterResourceId"]["pattern"] == CLUSTER_ID_PATTERN
    assert properties["requestId"]["pattern"] == REQUEST_ID_PATTERN
    assert properties["profile"]["pattern"] == PROFILE_NAME_PATTERN


@pytest.mark.parametrize("segment", [".", "..", "rg.", "a/..", "rg/.", "..."])
@pytest.mark.parametrize("name", ["group", "name"])
def test_dot_segments_are_refused_by_both(segment: str, name: str) -> None:
    group, cluster = (segment, "aks-1") if name == "group" else ("rg", segment)
    body = {"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": (
        f"/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/{group}/providers/"
        f"Microsoft.ContainerService/managedClusters/{cluster}")}
    assert not schema_accepts(body) and not parser_accepts(body)
