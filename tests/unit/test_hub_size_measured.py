"""The hub's size limit against the last real-Helm measurement (tests/fixtures/hub_release_measured.json, written by
`./dev bench hub --helm-size --record`), so the constants are checked on every machine, with or without the argo-cd
chart: the estimate covers every measured release, the most spokes the service accepts fit in one Secret by the
measured growth, and the service still renders a spoke's registration no bigger than it did when measured (a bigger
registration grows the release past the measurement: measure again)."""
from __future__ import annotations

import json

import pytest

from benchmarks.hub_release_size import refused_at
from shared.bootstrap.hub_size import RELEASE_BUDGET, SECRET_LIMIT, release_estimate
from tests.helm.release_size import MEASURED, SPOKE_PROFILES, hub_settings, settings_bytes

RECORD = json.loads(MEASURED.read_text())
ROWS = [(kind, row) for kind in SPOKE_PROFILES for row in RECORD["rows"][kind]]


def test_the_record_is_a_real_helm_measurement_of_the_argo_cd_chart() -> None:
    assert RECORD["chart"] == "argo-cd-10.1.1.tgz" and RECORD["helm"].startswith("v4.")
    base = RECORD["rows"]["minimal"][0]
    assert base["spokes"] == 0 and base["secret_bytes"] > 500_000  # the chart's CRDs alone: about half a MiB


@pytest.mark.parametrize(("kind", "row"), ROWS, ids=[f"{k}-{r['spokes']}" for k, r in ROWS])
def test_the_estimate_covers_every_measured_release(kind: str, row: dict[str, int]) -> None:
    assert release_estimate(row["settings_bytes"]) >= row["secret_bytes"], (kind, row)


@pytest.mark.parametrize("kind", SPOKE_PROFILES)
def test_the_most_spokes_accepted_fit_in_one_secret_by_the_measured_growth(kind: str) -> None:
    rows = RECORD["rows"][kind]
    first, last = rows[0], rows[-1]
    per_spoke = (last["secret_bytes"] - first["secret_bytes"]) / (last["spokes"] - first["spokes"])
    most = refused_at(kind)
    assert first["secret_bytes"] + most * per_spoke <= RELEASE_BUDGET < SECRET_LIMIT, (kind, most, per_spoke)
    assert most >= 90, most  # and not so cautious that a hub holds far fewer spokes than Helm allows


@pytest.mark.parametrize("kind", SPOKE_PROFILES)
def test_a_registration_is_no_bigger_than_when_measured(kind: str) -> None:
    measured = {row["spokes"]: row["settings_bytes"] for row in RECORD["rows"][kind]}
    now = settings_bytes(hub_settings(10, kind))
    assert now <= measured[10] * 1.01, f"{kind}: {now} bytes of settings for 10 spokes, {measured[10]} when measured"
