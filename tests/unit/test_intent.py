"""What a message means for a cluster, from the message and the ledger alone: every branch of `decide`."""
from __future__ import annotations

from typing import Any

import pytest

from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.pipeline.install_request import InstallRequest
from shared.pipeline.intent import Remembered, decide

AKS = parse_cluster_id("/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg/providers/"
                       "Microsoft.ContainerService/managedClusters/aks-1")
INSTALLED = Remembered("installed", "platform", {"ha": "off"}, None)
UNINSTALLED = Remembered("absent", "platform", None, None)
DELETED = Remembered("absent", "platform", None, 1000.0)


def request(action: str = "bootstrap", **fields: Any) -> InstallRequest:
    return InstallRequest(request_id="r-1", action=action, cluster=AKS, **fields)


@pytest.mark.parametrize(("message", "source", "remembered", "event_time", "expected"), [
    # (work, intent, profile, overrides, explicit)
    (request(), "request", None, None, ("reconcile", "installed", None, None, True)),
    (request(), "request", INSTALLED, None, ("reconcile", "installed", "platform", {"ha": "off"}, True)),
    (request(profile="ha"), "request", INSTALLED, None, ("reconcile", "installed", "ha", None, True)),
    (request("update"), "request", UNINSTALLED, None, ("reconcile", "installed", "platform", None, True)),
    (request("uninstall"), "request", INSTALLED, None, ("remove", "absent", "platform", {"ha": "off"}, True)),
    (request(), "event", INSTALLED, 5.0, ("reconcile", "installed", "platform", {"ha": "off"}, False)),
    (request(), "event", UNINSTALLED, 5.0, (None, "absent", "platform", None, False)),
    (request(), "sweep", UNINSTALLED, 5.0, (None, "absent", "platform", None, False)),
    (request(), "continuation", UNINSTALLED, None, ("remove", "absent", "platform", None, False)),
    (request(), "continuation", INSTALLED, None, ("reconcile", "installed", "platform", {"ha": "off"}, False)),
    (request("uninstall"), "event", INSTALLED, 2000.0, ("remove", "absent", "platform", {"ha": "off"}, False)),
    (request(), "event", DELETED, 999.0, (None, "absent", "platform", None, False)),  # late write
    (request(), "event", DELETED, None, (None, "absent", "platform", None, False)),  # no time: cannot be newer
    (request(), "event", DELETED, 1001.0, ("reconcile", "installed", None, None, False)),  # recreated
    (request(), "sweep", DELETED, 1001.0, ("reconcile", "installed", None, None, False)),
])
def test_decide(message: InstallRequest, source: Any, remembered: Remembered | None, event_time: float | None,
                expected: tuple[Any, ...]) -> None:
    decision = decide(message, source, remembered, event_time)
    assert (decision.work, decision.intent, decision.profile, decision.overrides, decision.explicit) == expected
    assert (decision.work is None) == bool(decision.reason)


def test_a_delete_keeps_the_latest_deletion_time() -> None:
    assert decide(request("uninstall"), "event", DELETED, 500.0, ).deleted_at == 1000.0
    assert decide(request("uninstall"), "event", DELETED, 1500.0).deleted_at == 1500.0
