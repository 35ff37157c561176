"""The hub's size limit against real Helm: the release Helm would store for a hub (argo-cd chart 10.1.1, the settings
the service renders, real-size CAs) stays under the service's estimate (shared/bootstrap/hub_size.py) at every
measured count, and the most spokes the service accepts fit in Kubernetes' 1 MiB Secret. Fails when the chart, Helm
or the registration's shape grows the release past the measured constants."""
from __future__ import annotations

import pytest

from benchmarks.hub_release_size import refused_at
from shared.bootstrap.hub_size import RELEASE_BUDGET, SECRET_LIMIT, release_estimate
from tests.helm.release_size import CHART, measure

pytestmark = pytest.mark.skipif(
    not CHART.is_file(), reason=f"{CHART} is missing: set ARGOCD_CHART to a packaged argo-cd chart "
    "(docs/hub-and-spoke.md, 'Measuring the hub's size'); the recorded figures are checked without it")


def test_the_chart_is_the_real_argo_cd_chart_with_its_crds() -> None:
    import tarfile

    with tarfile.open(CHART) as chart:
        names = chart.getnames()
    assert "argo-cd/templates/crds/crd-applicationset.yaml" in names
    assert "argo-cd/charts/redis-ha/Chart.yaml" in names  # its dependency, unpacked by helm package


@pytest.mark.parametrize(("spokes", "kind"), [(0, "minimal"), (10, "minimal"), (50, "minimal"),
                                              (10, "gitops-bridge"), (50, "gitops-bridge")])
def test_the_service_estimate_covers_the_release_helm_would_store(spokes: int, kind: str) -> None:
    measured = measure(spokes, kind)
    assert measured.secret_bytes <= release_estimate(measured.settings_bytes), measured


def test_the_most_spokes_the_service_accepts_fit_in_one_secret() -> None:
    most = refused_at("minimal")  # bare spokes: the most release bytes per byte of settings
    measured = measure(most, "minimal")
    assert measured.secret_bytes <= RELEASE_BUDGET < SECRET_LIMIT, measured
    assert most >= 100, most  # and the estimate is not so cautious that a hub holds far fewer than Helm allows
