"""The state the local ARM's route families share: resources, and the knobs their handlers read.

Each family (`localazure.arm_providers`, `arm_clusters`, `arm_extensions`, `arm_identities`) is a
mixin over `ArmState`, and `ArmEmulator` inherits them all, so handlers read `self._clusters` or
`self.extension_install_seconds` directly. Handlers never lock: `ArmEmulator` holds its lock around them.
"""

from __future__ import annotations

from localazure.arm_model import LATEST_ARGOCD_VERSION, Cluster, Failure, Identity, Operation, Provider, new_guid


class ArmState:
    """Resources keyed by their lower-cased id, and timings in seconds on the emulator's clock."""

    def __init__(self) -> None:
        self.provider_registration_seconds = 30.0
        self.extension_install_seconds = 120.0
        self.extension_update_seconds = 60.0
        self.extension_delete_seconds = 60.0
        self.fic_write_seconds = 0.0  # real seconds, not on the clock: the write's HTTP reply is held that long
        self.extension_version = LATEST_ARGOCD_VERSION
        self.tenant_id = new_guid()
        self.url = ""
        self._providers: dict[tuple[str, str], Provider] = {}  # by (subscription, namespace)
        self._clusters: dict[str, Cluster] = {}
        self._identities: dict[str, Identity] = {}
        self._operations: dict[str, Operation] = {}  # by operation id
        self._install_failures: list[Failure] = []
