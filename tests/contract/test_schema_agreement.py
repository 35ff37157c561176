"""schemas/install-request.v1 and the parser (`shared.pipeline.install_request`) accept and refuse the same bodies."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from localazure.contract import REQUEST_SCHEMA, schema_validator
from shared.bootstrap.profiles import PROFILE_KEYS
from shared.errors import RequestRejected
from shared.pipeline.install_request import ACTIONS, parse_install_request


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
        st.from_regex(r"[-\w._()]{1,90}", fullmatch=True), any_case("providers"), kind.flatmap(any_case),
        st.from_regex(r"[a-zA-Z0-9]|[a-zA-Z0-9][-_a-zA-Z0-9]{0,61}[a-zA-Z0-9]", fullmatch=True),
        st.sampled_from(["", "/", "//"]),
    ).map(lambda p: "/{}/{}/{}/{}/{}/{}/{}{}".format(*p))


valid_bodies = st.fixed_dictionaries(
    {"schemaVersion": st.sampled_from([1, 1.0]), "action": st.sampled_from(ACTIONS),
     "clusterResourceId": cluster_ids()},
    optional={"profile": st.one_of(st.none(), st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)),
              "requestId": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", fullmatch=True),
              "overrides": st.dictionaries(st.sampled_from(PROFILE_KEYS), st.integers() | st.text(max_size=5),
                                           max_size=3)})

# Characters that probe the patterns' edges: ASCII (slashes, spaces, newlines), a Unicode letter the resource
# group allows, Unicode spaces. Not the Unicode case folds of the fixed words (e.g. U+017F for "s").
probe_chars = st.one_of(st.characters(codec="ascii"), st.sampled_from(["é", "\u00a0", "\u2028", "\u0660"]))
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


@settings(max_examples=400, deadline=None)
@given(body=near_misses())
def test_schema_and_parser_agree_on_near_misses(body: dict[str, Any]) -> None:
    assert schema_accepts(body) == parser_accepts(body), json.dumps(body)


@settings(max_examples=200, deadline=None)
@given(body=json_values)
def test_schema_and_parser_agree_on_any_json(body: Any) -> None:
    assert schema_accepts(body) == parser_accepts(body)


def test_overrides_are_shaped_like_a_profile() -> None:
    base = {"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": (
        "/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg/providers/"
        "Microsoft.Kubernetes/connectedClusters/arc-1")}
    for ok in ({}, {"rbac": {"policyCsv": "g, sre, role:admin"}}, {"helmValues": {"server.replicas": 2}}):
        assert schema_accepts(base | {"overrides": ok}) and parser_accepts(base | {"overrides": ok})
    for bad in ({"redis-ha.enabled": False}, {"bad key": 1}, ["ha"], "ha=on"):
        assert not schema_accepts(base | {"overrides": bad}) and not parser_accepts(base | {"overrides": bad})
