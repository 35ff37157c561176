"""schemas/install-request.v1 and the parser (`shared.install_request`) accept and refuse the same bodies."""
from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from localazure.contract import REQUEST_SCHEMA, schema_validator
from shared.errors import RequestRejected
from shared.install_request import parse_install_request

# Announced in the schema ahead of the parser (issues 3 and 5). When the parser learns one, the tripwire
# test below fails: remove it from here and let the agreement tests cover it.
AHEAD_ACTIONS = ("update", "uninstall")
AHEAD_FIELDS = ("overrides",)


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
    {"schemaVersion": st.sampled_from([1, 1.0]), "action": st.just("bootstrap"), "clusterResourceId": cluster_ids()},
    optional={"profile": st.one_of(st.none(), st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)),
              "requestId": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", fullmatch=True)})

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
    name = draw(st.sampled_from(["schemaVersion", "action", "clusterResourceId", "profile", "requestId", "extra"]))
    change = draw(st.sampled_from(["drop", "value", "mutate"]))
    if change == "drop":
        body.pop(name, None)
    elif change == "mutate" and isinstance(body.get(name), str):
        body[name] = draw(mutated(body[name]))
    else:
        body[name] = draw(json_values)
    assume(body.get("action") not in AHEAD_ACTIONS)
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


@pytest.mark.parametrize("change", [{"action": a} for a in AHEAD_ACTIONS] + [
    {"overrides": {"redis-ha.enabled": False, "replicas": 2, "namespaces": ["team-a", "team-b"], "mode": "x"}}])
def test_announced_features_pass_the_schema_but_not_yet_the_parser(change: dict[str, Any]) -> None:
    body = {"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": (
        "/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg/providers/"
        "Microsoft.ContainerService/managedClusters/aks-1"), **change}
    assert schema_accepts(body)
    assert not parser_accepts(body), f"the parser now takes {change}: update AHEAD_* and this test"


def test_overrides_take_scalars_and_lists_of_scalars_only() -> None:
    base = {"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": (
        "/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg/providers/"
        "Microsoft.Kubernetes/connectedClusters/arc-1")}
    assert schema_accepts(base | {"overrides": {}})
    assert not schema_accepts(base | {"overrides": {"a": {"nested": 1}}})
    assert not schema_accepts(base | {"overrides": {"a": [[1]]}})
    assert not schema_accepts(base | {"overrides": {"a": None}})
    assert not schema_accepts(base | {"overrides": {"bad key": 1}})
