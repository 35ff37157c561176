"""How many spokes a hub holds: its Helm release must fit in one Kubernetes Secret. The figures are measured.

Helm keeps each release revision in a Secret whose payload is base64(gzip(the release as JSON: the chart, the
values, the rendered manifest)) (helm/helm pkg/storage/driver/util.go, encodeRelease), and Kubernetes refuses a
Secret over 1 MiB. A hub's release is mostly the argo-cd chart (its CRDs, as templates and rendered), and every
spoke's cluster Secret is in it twice (the values and the manifest), with a CA that hardly compresses.

Measured with `./dev bench hub --helm-size` (benchmarks/hub_release_size.py: real Helm 4.1.4 on argo-helm's argo-cd
chart 10.1.1 with redis-ha 4.38.0, the hub's settings as the service renders them, an RSA-4096 CA per spoke) on
2026-12-07: 526,956 bytes of payload with no spoke; +3,895 bytes per bare spoke (3,485 bytes of settings), +3,927 per
GitOps Bridge spoke (4,159 bytes of settings); Helm would pass the limit at about 133 spokes. The table is in
docs/hub-and-spoke.md. tests/helm/test_hub_release_size.py measures again and fails when these constants stop
covering what real Helm stores.
"""
from __future__ import annotations

from collections.abc import Mapping

from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.gitops import REGISTRATIONS_KEY
from shared.bootstrap.hub_registration import entry_size
from shared.errors import PermanentError

#: Kubernetes: "Individual Secrets are limited to 1MiB in size" (kubernetes.io/docs/concepts/configuration/secret).
SECRET_LIMIT = 1024 * 1024
#: The release payload of a hub with no spoke and no settings (measured 526,956 with a hub profile's 406 bytes).
RELEASE_BASE_BYTES = 530_000
#: Payload bytes per byte of the hub's settings: every measured point (bare spokes, whose CA is most of their bytes,
#: are the worst: 1.117 per byte at 200 spokes, 1.171 at 10) lies under RELEASE_BASE_BYTES + this x settings.
RELEASE_BYTES_PER_SETTINGS_BYTE = 1.13
#: Kept free: Go's gzip (Helm's) is not Python's (the measurement's) by a few percent, and the chart Microsoft's
#: extension wraps around argo-cd is not public.
MARGIN = 0.05
RELEASE_BUDGET = int(SECRET_LIMIT * (1 - MARGIN))


def settings_bytes(settings: Mapping[str, str]) -> int:
    """The size of a hub's settings as the estimate counts them: every key and value, UTF-8."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in settings.items())


def release_estimate(size: int) -> int:
    """The hub's Helm release payload (bytes) for settings of this size: an upper bound from the measurement."""
    return RELEASE_BASE_BYTES + int(RELEASE_BYTES_PER_SETTINGS_BYTE * size)


def registrations_budget(installed: Mapping[str, str]) -> int:
    """How many bytes of registrations fit next to the hub's own settings before the release passes its budget."""
    own = settings_bytes({k: v for k, v in installed.items() if k != REGISTRATIONS_KEY})
    room = (RELEASE_BUDGET - RELEASE_BASE_BYTES) / RELEASE_BYTES_PER_SETTINGS_BYTE
    return max(0, int(room) - own - len(REGISTRATIONS_KEY))


def check_size(registrations: Mapping[str, str], hub: ClusterRef, installed: Mapping[str, str]) -> int:
    """The registrations' size in bytes (as `entry_size` counts them); refused with the reason before the hub's
    release would pass Kubernetes' Secret limit, not after a Helm error."""
    size = sum(entry_size(m) for m in registrations.values())
    budget = registrations_budget(installed)
    if size > budget:
        own = settings_bytes({k: v for k, v in installed.items() if k != REGISTRATIONS_KEY})
        raise PermanentError("HubFull", f"hub {hub.name} would hold {len(registrations)} spokes in {size} bytes of "
                             f"settings (over {budget} next to its own {own}): its Helm release would be about "
                             f"{release_estimate(size + own)} bytes, and Helm stores a release in a Kubernetes "
                             f"Secret of at most {SECRET_LIMIT} (docs/hub-and-spoke.md, Limits). Give this group of "
                             "clusters a hub of its own (another profile whose hub.cluster names it)")
    return size
