"""The small subset of KQL the local Resource Graph runs: exactly the shapes of the service's query templates
(`shared.pipeline.fleet_view`), parsed, never guessed at.

    query := table ( '|' operator )*
    table := 'resources' | 'kubernetesconfigurationresources'
    operator := 'where' path ( '=~' | '==' | '!=' ) string
              | 'where' path 'in~' '(' string ( ',' string )* ')'
              | 'project' column ( ',' column )*
    column := name | name '=' path
    path := name ( '.' name | '[' string ']' )*
    string := '...' (single quotes, no escapes)

`=~` and `in~` compare ignoring case, `==` and `!=` exactly; a path that leads nowhere is null (KQL's dynamic
access), and null equals nothing. Anything else (another table or operator, `and`/`or`, functions, double quotes)
is refused with Resource Graph's 400 `BadRequest` / `InvalidQuery` and a `ParserFailure` detail naming the token,
where Azure might have run it: a query the service sends that this subset does not know fails here, not in Azure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from localazure.arm.common import Json
from localazure.arm.request import ArmError

TABLES = ("resources", "kubernetesconfigurationresources")
_TOKEN = re.compile(r"\s*(?:(?P<string>'[^']*')|(?P<op>in~|=~|==|!=|[|(),=.\[\]])|(?P<name>[A-Za-z_][A-Za-z0-9_]*))")
_INVALID = ("Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the "
            "error before retrying.")

Path = tuple[str, ...]
Row = Json


@dataclass(frozen=True)
class Query:
    """A parsed query: its table, its filters (row -> keep?) in order, and its projection (None: every column)."""

    table: str
    filters: tuple[Callable[[Row], bool], ...]
    columns: tuple[tuple[str, Path], ...] | None

    def run(self, rows: Iterable[Row]) -> list[Row]:
        kept = [row for row in rows if all(keep(row) for keep in self.filters)]
        if self.columns is None:
            return kept
        return [{name: value_at(row, path) for name, path in self.columns} for row in kept]


def refused(text: str, position: int, token: str) -> ArmError:
    """Resource Graph's answer to a query it cannot parse (the body Azure sends, details and all)."""
    return ArmError(400, "BadRequest", "Please provide below info when asking for support: timestamp = "
                    "(local), correlationId = (local).", details=[
                        {"code": "InvalidQuery", "message": _INVALID},
                        {"code": "ParserFailure", "message": "ParserFailure", "line": 1,
                         "characterPositionInLine": position, "token": token or text[position:position + 20]}])


def parse(text: str) -> Query:
    tokens = _tokens(text)
    reader = _Reader(text, tokens)
    table = reader.name()
    if table.lower() not in TABLES:
        raise reader.fail(-1)
    filters: list[Callable[[Row], bool]] = []
    columns: tuple[tuple[str, Path], ...] | None = None
    while not reader.done():
        reader.expect("|")
        operator = reader.name().lower()
        if operator == "where" and columns is None:
            filters.append(_condition(reader))
        elif operator == "project" and columns is None:
            columns = _projection(reader)
        else:
            raise reader.fail(-1)
    return Query(table.lower(), tuple(filters), columns)


def value_at(row: Row, path: Path) -> Any:
    value: Any = row
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


class _Reader:
    def __init__(self, text: str, tokens: list[tuple[str, str, int]]) -> None:
        self.text, self.tokens, self.at = text, tokens, 0

    def done(self) -> bool:
        return self.at >= len(self.tokens)

    def fail(self, offset: int = 0) -> ArmError:
        index = min(max(self.at + offset, 0), len(self.tokens) - 1)
        _, token, position = self.tokens[index] if self.tokens else ("", "", 0)
        return refused(self.text, position, token)

    def next(self, kind: str) -> str:
        if self.done() or self.tokens[self.at][0] != kind:
            raise self.fail()
        self.at += 1
        return self.tokens[self.at - 1][1]

    def name(self) -> str:
        return self.next("name")

    def string(self) -> str:
        return self.next("string")[1:-1]

    def expect(self, op: str) -> None:
        if self.next("op") != op:
            raise self.fail(-1)

    def peek(self, op: str) -> bool:
        return not self.done() and self.tokens[self.at][:2] == ("op", op)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    found, at = [], 0
    while at < len(text.rstrip()):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise refused(text, at, "")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind), match.start(kind)))
        at = match.end()
    return found


def _path(reader: _Reader) -> Path:
    steps = [reader.name()]
    while reader.peek(".") or reader.peek("["):
        if reader.next("op") == ".":
            steps.append(reader.name())
        else:
            steps.append(reader.string())
            reader.expect("]")
    return tuple(steps)


def _condition(reader: _Reader) -> Callable[[Row], bool]:
    path = _path(reader)
    operator = reader.next("op")
    if operator == "in~":
        reader.expect("(")
        wanted = {reader.string().lower()}
        while reader.peek(","):
            reader.expect(",")
            wanted.add(reader.string().lower())
        reader.expect(")")
        return lambda row: isinstance(v := value_at(row, path), str) and v.lower() in wanted
    value = reader.string()
    if operator == "=~":
        return lambda row: isinstance(v := value_at(row, path), str) and v.lower() == value.lower()
    if operator == "==":
        return lambda row: value_at(row, path) == value
    if operator == "!=":
        return lambda row: (v := value_at(row, path)) is not None and v != value
    raise reader.fail(-1)


def _projection(reader: _Reader) -> tuple[tuple[str, Path], ...]:
    columns = []
    while True:
        name = reader.name()
        if reader.peek("="):
            reader.expect("=")
            columns.append((name, _path(reader)))
        else:
            columns.append((name, (name,)))
        if not reader.peek(","):
            return tuple(columns)
        reader.expect(",")
