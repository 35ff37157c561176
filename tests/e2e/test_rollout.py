"""End to end: a profile change goes out in waves (canary by tag, then a share of the fleet, then the rest), halts on
failures with Azure's messages, resumes, aborts; the clusters outside the open waves are never touched."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.azure.rollout_store import RolloutState
from shared.bootstrap.rollout_plan import bucket
from tests.e2e.helpers import RG, aks_id, record, replies, send_request

WAVES = """\
rollout:
  waves:
    - {name: canary, selector: {tags: {ring: canary}}}
    - {name: early, percent: 50}
    - {name: rest, percent: 100}
  maxFailures: 0
"""
GOOD = "ha: auto\n" + WAVES  # three nodes: redis-ha off
# A cluster credential without its server: the argo-cd chart refuses to render it (Helm fails the update in Azure).
BAD = "ha: auto\nhelmValues:\n  configs.clusterCredentials.bad.name: bad\n" + WAVES
FIXED = "ha: auto\nhelmValues:\n  server.replicas: \"2\"\n" + WAVES


def _fleet() -> tuple[list[str], list[str]]:
    """Names for the early wave (bucket < 50) and the rest, two of each: the same every run."""
    early, rest = [], []
    for n in range(40):
        name = f"aks-{n:02d}"
        (early if bucket(aks_id(name).lower()) < 50 else rest).append(name)
    return early[:2], rest[:2]


EARLY, REST = _fleet()


@pytest.fixture
def staged(azurite: Any, tmp_path: Path) -> Iterator[LocalAzure]:
    (tmp_path / "staged.yaml").write_text(GOOD)
    with LocalAzure(azurite=azurite, provider_states={},
                    settings={"PROFILES_DIR": str(tmp_path), "DEFAULT_PROFILE": "staged"}) as az:
        for name in ("aks-canary", *EARLY, *REST):
            tags = {"ring": "canary"} if name == "aks-canary" else {}
            az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, RG, name, node_counts=(3,), tags=tags))
        az.drain()
        yield az


def change(az: LocalAzure, text: str) -> None:
    (Path(az.services.settings.profiles_dir) / "staged.yaml").write_text(text)
    az.reconfigure()  # a deployment with the new file


def sweep(az: LocalAzure, *, later: bool = True) -> dict[str, str]:
    """A sweep, a minute after the last thing (`later=False`: a duplicate, in the same minute)."""
    assert az.host is not None
    if later:
        az.clock.advance(60)
    az.host.run_timer("sweep")
    return az.services.sweeper.last_report.enqueued


def state(az: LocalAzure) -> RolloutState:
    found = az.services.ledger.rollouts.get_state("staged")
    assert found is not None
    return found


def patched(az: LocalAzure) -> set[str]:
    """The clusters whose extension got a PATCH or PUT since the log was cleared."""
    return {r.path.split("/providers/Microsoft.KubernetesConfiguration")[0].rsplit("/", 1)[-1]
            for r in az.arm.requests if r.method in ("PATCH", "PUT") and r.path.endswith("/extensions/argocd")}


def digests(az: LocalAzure, names: tuple[str, ...]) -> set[str | None]:
    return {record(az, aks_id(n)).profile_digest for n in names}


def redis_ha(az: LocalAzure, name: str) -> str:
    return str(az.arm.extension(aks_id(name), "argocd")["properties"]["configurationSettings"]["redis-ha.enabled"])


def test_a_bad_change_stops_after_the_canary_and_touches_nobody_else(staged: LocalAzure) -> None:
    az = staged
    v1 = record(az, aks_id("aks-canary")).profile_digest
    change(az, BAD)
    az.arm.clear_log()
    assert sweep(az) == {aks_id("aks-canary").lower(): "profile 'staged' changed since it was applied"}
    az.drain()
    canary = record(az, aks_id("aks-canary"))
    assert canary.phase == "failed" and canary.last_error_code == "ExtensionOperationFailed"
    halted = state(az)
    assert (halted.status, halted.wave, halted.stable) == ("halted", 0, v1)
    [failure] = halted.failures
    assert failure.cluster_id == aks_id("aks-canary") and failure.code == "ExtensionOperationFailed"
    assert failure.message == canary.last_error_message and "wave 'canary'" in (halted.reason or "")
    for _ in range(3):  # later sweeps: the halt holds
        assert set(sweep(az)) <= {aks_id("aks-canary").lower()}
        az.drain()
    others = (*EARLY, *REST)
    assert patched(az) == {"aks-canary"}  # no PATCH (or PUT) on any other cluster
    assert digests(az, others) == {v1} and {redis_ha(az, n) for n in others} == {"false"}
    assert state(az).status == "halted"
    shown = json.loads(az.http("GET", "/api/rollouts/staged").get_body())  # the status API says why
    assert (shown["status"], shown["wave"], shown["previousVersion"], shown["newClustersGet"]) == \
        ("halted", {"index": 0, "name": "canary", "of": 3}, v1, v1)
    assert shown["clusters"] == {"waiting": 4, "admitted": 0, "succeeded": 0, "failed": 1, "gone": 0}
    [failed] = shown["failures"]
    assert (failed["clusterResourceId"], failed["wave"], failed["code"]) == \
        (aks_id("aks-canary"), "canary", "ExtensionOperationFailed")
    assert "clusterCredentials.bad.server" in failed["message"] and "wave 'canary'" in shown["reason"]
    assert json.loads(az.http("GET", "/api/rollouts").get_body())["rollouts"] == [shown]
    assert az.http("GET", "/api/rollouts/Nope%0A").status_code == 400
    assert az.http("GET", "/api/rollouts/nope").status_code == 404


def break_canary(az: LocalAzure) -> str | None:
    """Change the profile to the bad version and let the canary fail; the version everyone had."""
    v1 = record(az, aks_id("aks-canary")).profile_digest
    change(az, BAD)
    sweep(az)
    az.drain()
    assert state(az).status == "halted"
    return v1


def test_a_new_cluster_during_a_halted_rollout_gets_the_last_version_that_passed(staged: LocalAzure) -> None:
    az = staged
    v1 = break_canary(az)
    az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-new", node_counts=(3,)))
    az.drain()
    new = record(az, aks_id("aks-new"))
    assert (new.phase, new.profile_digest, redis_ha(az, "aks-new")) == ("succeeded", v1, "false")


def test_a_fix_goes_to_the_canary_first_then_wave_by_wave(staged: LocalAzure) -> None:
    az = staged
    break_canary(az)
    change(az, FIXED)  # the fix is a new version: a new rollout, the broken canary first
    enqueued = sweep(az)
    assert set(enqueued) == {aks_id("aks-canary").lower()}
    az.arm.clear_log()
    az.drain()
    v3 = state(az).target
    assert record(az, aks_id("aks-canary")).profile_digest == v3 and patched(az) == {"aks-canary"}
    az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-late", node_counts=(3,)))
    az.drain()
    assert record(az, aks_id("aks-late")).profile_digest != v3  # the canary wave has not been judged yet
    az.arm.clear_log()
    assert set(sweep(az)) == {aks_id(n).lower() for n in EARLY}  # canary done: the early 50 % (deterministic)
    assert (state(az).wave, state(az).passed) == (1, v3)
    # A duplicate sweep (the same minute: the bus drops its messages as duplicates) admits nobody more.
    assert set(sweep(az, later=False)) == {aks_id(n).lower() for n in EARLY} and state(az).wave == 1
    az.drain()
    assert patched(az) == set(EARLY)
    assert set(sweep(az)) == {aks_id(n).lower() for n in (*REST, "aks-late")}
    az.drain()
    sweep(az)
    done = state(az)
    assert (done.status, done.stable, done.passed) == ("completed", v3, v3)
    assert digests(az, ("aks-canary", *EARLY, *REST, "aks-late")) == {v3}


def test_abort_stops_the_rollout_where_it_is(staged: LocalAzure, capsys: pytest.CaptureFixture[str]) -> None:
    az = staged
    v1 = break_canary(az)
    body = json.dumps({"schemaVersion": 1, "action": "rollout-resume", "profile": "staged", "requestId": "team-x"})
    send_request(az, aks_id("aks-canary"), message_id="team-x", body=body.encode())  # another team may not
    az.drain()
    [refused] = [r for r in replies(az) if r["requestId"] == "team-x"]
    assert refused["outcome"] == "rejected" and refused["error"]["code"] == "OperatorActionNotAllowed"
    assert "argoboot rollout resume PROFILE" in refused["error"]["message"] and state(az).status == "halted"
    code, aborted = argoboot(capsys, "rollout", "abort", "staged")  # the operator, with the ledger's own access
    assert code == 0 and aborted["rollout"]["status"] == "aborted"
    assert aborted["rollout"]["reason"].startswith("aborted by argoboot rollout abort")
    assert argoboot(capsys, "rollout", "abort", "staged")[1] == aborted  # a duplicate: done already, no write
    az.arm.clear_log()
    for _ in range(2):
        sweep(az)
        az.drain()
    assert patched(az) <= {"aks-canary"} and digests(az, (*EARLY, *REST)) == {v1}
    assert state(az).status == "aborted"
    az.deliver_event(az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-after", node_counts=(3,)))
    az.drain()
    assert record(az, aks_id("aks-after")).profile_digest == v1  # new clusters: the last version that passed
    code, listed = argoboot(capsys, "status")
    assert code == 0 and [r["status"] for r in listed["rollouts"]] == ["aborted"]


def argoboot(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    """The CLI in this process, against this local Azure's ledger (its app settings are in the environment)."""
    from argoboot_cli.main import main

    capsys.readouterr()
    code = main([*args, "-o", "json"])
    return code, json.loads(capsys.readouterr().out)


def halt(az: LocalAzure) -> None:
    """A new version whose canary PATCH fails once: the rollout halts after the canary wave."""
    change(az, FIXED)
    canary = aks_id("aks-canary").replace("/", r"\/") + r"/providers/Microsoft.KubernetesConfiguration/"
    az.arm.inject(method="PATCH", path_regex=canary, status=400, code="InvalidRequest",
                  message="the cluster's extension manager refused the update", times=1)
    sweep(az)
    az.drain()
    assert state(az).status == "halted"


def test_resume_retries_the_wave_after_a_passing_failure(staged: LocalAzure,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    az = staged
    halt(az)
    halted = state(az)
    assert [f.code for f in halted.failures] == ["InvalidRequest"]
    assert "extension manager refused" in (halted.failures[0].message or "")
    code, resumed = argoboot(capsys, "rollout", "resume", "staged")
    assert code == 0 and (resumed["rollout"]["status"], resumed["rollout"]["failures"]) == ("running", [])
    assert resumed["rollout"]["clusters"]["admitted"] == 1  # the failed canary, to be tried again
    assert argoboot(capsys, "rollout", "resume", "staged")[1] == resumed  # a duplicate: done already
    assert argoboot(capsys, "rollout", "resume", "nope")[0] == 3  # no such rollout: exit code "not found"
    assert set(sweep(az)) == {aks_id("aks-canary").lower()}  # its wave again, nobody else
    az.drain()
    assert record(az, aks_id("aks-canary")).profile_digest == state(az).target
    assert set(sweep(az)) == {aks_id(n).lower() for n in EARLY}


def test_reverting_the_file_rolls_back_at_once(staged: LocalAzure) -> None:
    az = staged
    v1 = break_canary(az)
    change(az, GOOD)  # back to the last completed version: known to work, so everyone at once
    assert set(sweep(az)) == {aks_id("aks-canary").lower()}  # the only cluster not on it
    az.drain()
    assert state(az).status == "completed" and state(az).target == v1
    canary = record(az, aks_id("aks-canary"))
    assert (canary.phase, canary.profile_digest, redis_ha(az, "aks-canary")) == ("succeeded", v1, "false")
    settings = az.arm.extension(aks_id("aks-canary"), "argocd")["properties"]["configurationSettings"]
    assert not any(key.startswith("configs.clusterCredentials") for key in settings)


def test_a_cluster_deleted_in_its_wave_does_not_hold_the_rollout(staged: LocalAzure) -> None:
    az = staged
    change(az, FIXED)
    assert set(sweep(az)) == {aks_id("aks-canary").lower()}
    az.deliver_event(az.arm.delete_cluster(aks_id("aks-canary")))  # gone before its run
    az.drain()
    assert record(az, aks_id("aks-canary")).intent == "absent"
    assert set(sweep(az)) == {aks_id(n).lower() for n in EARLY} and state(az).wave == 1


def test_a_done_wave_soaks_before_the_next_one_opens(staged: LocalAzure) -> None:
    az = staged
    change(az, FIXED + "  soakMinutes: 30\n")
    assert set(sweep(az)) == {aks_id("aks-canary").lower()}
    az.drain()
    assert sweep(az) == {}  # the canary is done: its soak begins, nobody else yet
    soaking = json.loads(az.http("GET", "/api/rollouts/staged").get_body())
    assert soaking["wave"]["name"] == "canary" and soaking["soakingUntil"] is not None
    az.clock.advance(20 * 60)
    assert sweep(az) == {} and state(az).wave == 0
    az.clock.advance(10 * 60)
    assert set(sweep(az)) == {aks_id(n).lower() for n in EARLY} and state(az).soaking_since is None
