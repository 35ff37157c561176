"""Staged rollouts in Table storage (`<prefix>rollouts`, next to the ledger's tables): one partition per profile.

Implements `shared.azure.rollout_store.RolloutStore`. Row keys: `state`; `version|<digest>` (the profile document
as JSON, split over properties of at most 30,000 characters, Table storage's limit being 64 KiB per string);
`member|<target digest>|<cluster key with '/' as '|'>`, so that one range query reads a rollout's members.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from shared.azure.ledger import LedgerConflict
from shared.azure.rollout_store import Failure, Member, RolloutState

_CHUNK = 30_000
_MAX_CHUNKS = 30  # ~900,000 characters: under an entity's 1 MiB


def _member_prefix(target: str) -> str:
    return f"member|{target}|"


class TableRollouts:
    def __init__(self, table: Any) -> None:
        self._table = table

    def get_state(self, profile: str) -> RolloutState | None:
        entity = self._get(profile, "state")
        return None if entity is None else self._state(entity)

    def list_states(self) -> list[RolloutState]:
        return [self._state(e) for e in self._table.query_entities("RowKey eq 'state'")]

    @staticmethod
    def _state(entity: Any) -> RolloutState:
        fields = json.loads(entity["Record"])
        fields["failures"] = tuple(Failure(**f) for f in fields["failures"])
        return RolloutState(**fields, etag=entity.metadata["etag"])

    def save_state(self, state: RolloutState) -> RolloutState:
        data = asdict(state)
        data.pop("etag")
        entity = {"PartitionKey": state.profile, "RowKey": "state", "Status": state.status,
                  "Record": json.dumps(data)}
        return replace(state, etag=self._write(entity, state.etag))

    def get_version(self, profile: str, digest: str) -> Mapping[str, Any] | None:
        entity = self._get(profile, f"version|{digest}")
        return None if entity is None else _document(entity)

    def save_version(self, profile: str, digest: str, document: Mapping[str, Any]) -> None:
        """Idempotent: a digest names one document, so writing it again changes nothing."""
        text = json.dumps(document, sort_keys=True, default=str)
        chunks = [text[i:i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
        if len(chunks) > _MAX_CHUNKS:
            raise ValueError(f"profile {profile!r} is {len(text)} characters of JSON; a version row holds at most "
                             f"{_CHUNK * _MAX_CHUNKS}")
        entity: dict[str, Any] = {"PartitionKey": profile, "RowKey": f"version|{digest}", "Chunks": len(chunks)}
        entity |= {f"Document{i}": chunk for i, chunk in enumerate(chunks)}
        self._table.upsert_entity(entity)

    def list_versions(self, profile: str) -> dict[str, Mapping[str, Any]]:
        found = self._table.query_entities("PartitionKey eq @p and RowKey ge 'version|' and RowKey lt 'version}'",
                                           parameters={"p": profile})
        return {e["RowKey"][len("version|"):]: _document(e) for e in found}

    def members(self, profile: str, target: str) -> list[Member]:
        low = _member_prefix(target)
        high = low[:-1] + "}"  # '}' sorts right after '|'
        found = self._table.query_entities("PartitionKey eq @p and RowKey ge @low and RowKey lt @high",
                                           parameters={"p": profile, "low": low, "high": high})
        return [self._member(e) for e in found]

    def get_member(self, profile: str, target: str, cluster_key: str) -> Member | None:
        entity = self._get(profile, _member_prefix(target) + cluster_key.replace("/", "|"))
        return None if entity is None else self._member(entity)

    @staticmethod
    def _member(entity: Any) -> Member:
        return Member(**json.loads(entity["Record"]), etag=entity.metadata["etag"])

    def save_member(self, profile: str, target: str, member: Member) -> Member:
        data = asdict(member)
        data.pop("etag")
        entity = {"PartitionKey": profile, "RowKey": _member_prefix(target) + member.cluster_key.replace("/", "|"),
                  "Status": member.status, "Wave": member.wave, "Record": json.dumps(data)}
        return replace(member, etag=self._write(entity, member.etag))

    def _get(self, partition: str, row: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._table.get_entity(partition, row)
        except ResourceNotFoundError:
            return None

    def _write(self, entity: dict[str, Any], etag: str | None) -> str:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.data.tables import UpdateMode

        try:
            if etag is None:
                meta = self._table.create_entity(entity)
            else:
                meta = self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                                 match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError) as exc:
            raise LedgerConflict(str(exc)) from exc
        return str(meta["etag"])


def _document(entity: Any) -> Mapping[str, Any]:
    text = "".join(entity[f"Document{i}"] for i in range(int(entity["Chunks"])))
    document: Mapping[str, Any] = json.loads(text)
    return document
