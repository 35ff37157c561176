"""A crash between any two steps, then redelivery: the work resumes, nothing is done twice or left behind.

The worker process dies (tests/e2e/crashes.py) just before the n-th call the queue handler makes to the
outside world (ARM, Graph, the ledger, the bus), for every n of a full workload identity + Entra SSO + ACR
bootstrap, and of an uninstall. Service Bus abandons the message and redelivers it to a new process.
Each case runs on its own local Azure (the session's Azurite); a dry run first lists the calls, so the
matrix follows the service's steps as they change. All failing cases are reported together.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from localazure.azurite import Azurite
from localazure.stack import LocalAzure
from tests.e2e.azure_state import (
    assert_bootstrapped,
    assert_clean_bus,
    assert_nothing_created_twice,
    assert_removed,
    assert_replied_once,
    assert_requests_terminal,
    copy_profiles,
    issuer_of,
    new_cluster,
    platform_stack,
    quick,
)
from tests.e2e.crashes import CrashPlan, ProcessDied, install_crash_plan, run_with_restarts
from tests.e2e.helpers import send_request

Scenario = Callable[[LocalAzure, int | None], CrashPlan]


@pytest.fixture(scope="module")
def profiles_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_profiles(tmp_path_factory.mktemp("profiles"))


def crash_during_bootstrap(az: LocalAzure, crash_before: int | None) -> CrashPlan:
    cluster_id = new_cluster(az, "aks-crash")
    issuer = issuer_of(az, cluster_id)
    plan = CrashPlan(crash_before)
    install_crash_plan(az, plan)
    send_request(az, cluster_id, message_id="m-boot", requestId="r-boot", profile="platform")
    run_with_restarts(az, plan)

    assert_bootstrapped(az, cluster_id)
    assert_nothing_created_twice(az)
    assert_replied_once(az, {"r-boot": "succeeded"})
    assert_requests_terminal(az, ["r-boot"])
    assert_clean_bus(az, errors=0 if crash_before is None else 1)
    bootstrap = CrashPlan(crash_before, list(plan.calls), plan.crashed_at)
    # What a crash left out of the ledger would now be an orphan: an uninstall must find and remove it all.
    send_request(az, cluster_id, message_id="m-clean", requestId="r-clean", action="uninstall")
    az.drain()
    assert_removed(az, cluster_id, issuer=issuer)
    return bootstrap


def crash_during_uninstall(az: LocalAzure, crash_before: int | None) -> CrashPlan:
    cluster_id = new_cluster(az, "aks-crash")
    issuer = issuer_of(az, cluster_id)
    send_request(az, cluster_id, message_id="m-boot", requestId="r-boot", profile="platform")
    az.drain()
    assert_bootstrapped(az, cluster_id)
    plan = CrashPlan(crash_before)
    install_crash_plan(az, plan)
    send_request(az, cluster_id, message_id="m-rm", requestId="r-rm", action="uninstall")
    run_with_restarts(az, plan)

    assert_removed(az, cluster_id, issuer=issuer)
    assert az.arm.extension(cluster_id, "argocd") is None and az.arm.cluster(cluster_id) is not None
    assert_nothing_created_twice(az)
    assert_replied_once(az, {"r-boot": "succeeded", "r-rm": "uninstalled"})
    assert_requests_terminal(az, ["r-boot", "r-rm"])
    assert_clean_bus(az, errors=0 if crash_before is None else 1)
    return plan


def run_matrix(azurite: Azurite, profiles_dir: Path, scenario: Scenario) -> list[str]:
    """The scenario without a crash (which lists its calls), then once per call with a crash just before it."""
    with platform_stack(azurite, profiles_dir) as az:
        quick(az)
        calls = scenario(az, None).calls
    failures = []
    for n, call in enumerate(calls):
        with platform_stack(azurite, profiles_dir) as az:
            quick(az)
            try:
                plan = scenario(az, n)
                assert plan.crashed_at == f"#{n} {call}", plan.crashed_at  # the crash happened where meant
                assert [type(e) for e in az.bus.errors] == [ProcessDied]
            except AssertionError as exc:
                failures.append(f"crash before #{n} {call}: {exc}")
    assert not failures, f"{len(failures)} of {len(calls)} crash points failed:\n" + "\n".join(failures)
    return calls


def test_a_crash_before_any_call_of_a_bootstrap_resumes_on_redelivery(azurite: Azurite, profiles_dir: Path) -> None:
    calls = run_matrix(azurite, profiles_dir, crash_during_bootstrap)
    # The matrix spans the whole bootstrap: every kind of step was a crash point.
    for step in ("arm.provider_state", "arm.get_cluster", "arm.put_identity", "arm.put_credential",
                 "arm.create_role_assignment", "graph.add_credential", "arm.put_extension", "arm.get_extension",
                 "bus.send", "ledger.save_cluster", "ledger.save_request"):
        assert step in calls


def test_a_crash_before_any_call_of_an_uninstall_resumes_on_redelivery(azurite: Azurite, profiles_dir: Path) -> None:
    calls = run_matrix(azurite, profiles_dir, crash_during_uninstall)
    for step in ("arm.delete_extension", "graph.delete_credential", "arm.delete_role_assignment",
                 "arm.delete_credential", "arm.delete_identity", "ledger.save_cluster", "bus.send"):
        assert step in calls
