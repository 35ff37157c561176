"""Rollout records on Azurite: versions round-trip by digest, and concurrent sweeps or runs never move a rollout
twice or undo each other's halt (ETag-conditional writes)."""
from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path

from localazure.azurite import Azurite
from shared.azure.ledger import ClusterRecord
from shared.azure.rollout_store import Member, RolloutState
from shared.azure.table_ledger import TableLedger
from shared.azure.table_rollouts import TableRollouts
from shared.bootstrap.profiles import ProfileCatalog
from shared.pipeline.rollout import Rollouts

PROFILE = """\
helmValues:
  server.replicas: "2"
rollout:
  waves: [{name: canary, selector: {tags: {ring: canary}}}, {name: rest, percent: 100}]
"""


def store(azurite: Azurite) -> TableRollouts:
    ledger = TableLedger(connection_string=azurite.connection_string, endpoint=None,
                         prefix="r" + secrets.token_hex(5))
    assert isinstance(ledger.rollouts, TableRollouts)
    return ledger.rollouts


def test_a_version_round_trips_by_digest_even_when_large(azurite: Azurite) -> None:
    rollouts = store(azurite)
    big = {"rbac": {"policyCsv": "p, role:x, applications, get, */*, allow\n" * 2000}}  # ~90,000 characters
    rollouts.save_version("p", "abc", big)
    rollouts.save_version("p", "abc", big)  # idempotent
    rollouts.save_version("p", "def", {})
    assert rollouts.get_version("p", "abc") == big and rollouts.list_versions("p") == {"abc": big, "def": {}}
    assert rollouts.get_version("p", "nope") is None and rollouts.list_versions("q") == {}


def test_concurrent_judges_of_one_wave_advance_it_once_and_never_undo_a_halt(azurite: Azurite,
                                                                             tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PROFILE)
    catalog = ProfileCatalog.load(tmp_path, "p")
    base = catalog.profiles["p"]
    assert base.rollout is not None
    rollouts = store(azurite)
    rollouts.save_state(RolloutState("p", target=base.digest, stable="old", passed="old", status="running",
                                     opened_by="an earlier sweep"))
    done = rollouts.save_member("p", base.digest, Member("a", "A", 0, "succeeded"))
    rollouts.save_member("p", base.digest, Member("b", "B", 1, "waiting"))
    members = {m.cluster_key: m for m in rollouts.members("p", base.digest)}
    stale = rollouts.get_state("p")
    assert stale is not None and members["a"] == done

    converged = ClusterRecord(key="b", cluster_id="B", kind="aks", phase="succeeded", profile="p")
    first, second = (Rollouts(rollouts, catalog, lambda: 1.0, {"b": converged}.get) for _ in range(2))
    first.reset(), second.reset()
    halted = rollouts.save_state(replace(stale, status="halted", reason="a run halted it"))
    assert first._advance("p", stale, base.rollout, members) == halted  # its write was refused: the halt stands
    stored = rollouts.get_state("p")
    assert stored is not None and (stored.status, stored.wave, stored.etag) == ("halted", 0, halted.etag)

    resumed = rollouts.save_state(replace(halted, status="running"))
    advanced = first._advance("p", resumed, base.rollout, members)
    assert (advanced.wave, advanced.passed) == (1, base.digest)
    again = second._advance("p", resumed, base.rollout, members)  # judged from the same read
    assert again == advanced and again.etag == advanced.etag  # refused, took the stored view: wave 1, not 2
