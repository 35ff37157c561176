"""The state the local ARM's route families share: resources, and the knobs their handlers read.

Each family (`localazure.arm_providers`, `arm_clusters`, `arm_extensions`, `arm_identities`, `arm_roles`,
`graph_routes`) is a mixin over `ArmState`, and `ArmEmulator` inherits them all, so handlers read `self._clusters` or
`self.extension_install_seconds` directly. Handlers never lock: `ArmEmulator` holds its lock around them.
"""

from __future__ import annotations

from localazure.arm_access import Permissions
from localazure.arm_model import (
    LATEST_ARGOCD_VERSION,
    Application,
    Cluster,
    Failure,
    Identity,
    Operation,
    Provider,
    RoleAssignment,
    new_guid,
)


class ArmState:
    """Resources keyed by their lower-cased id, and timings in seconds on the emulator's clock."""

    def __init__(self) -> None:
        self.provider_registration_seconds = 30.0
        self.extension_install_seconds = 120.0
        self.extension_update_seconds = 60.0
        self.extension_delete_seconds = 60.0
        self.cluster_update_seconds = 240.0
        self.principal_replication_seconds = 20.0
        self.fic_write_seconds = 0.0  # real seconds, not on the clock: the write's HTTP reply is held that long
        self.extension_version = LATEST_ARGOCD_VERSION
        self.tenant_id = new_guid()
        self.url = ""
        self._providers: dict[tuple[str, str], Provider] = {}  # by (subscription, namespace)
        self._clusters: dict[str, Cluster] = {}
        self._identities: dict[str, Identity] = {}
        self._operations: dict[str, Operation] = {}  # by operation id
        self._install_failures: list[Failure] = []
        self._role_assignments: dict[str, RoleAssignment] = {}  # by lower-cased id
        self._principals: dict[str, float] = {}  # principal id -> when it was created, on the clock
        self._registries: set[str] = set()  # lower-cased container registry ids
        self._applications: dict[str, Application] = {}  # Entra applications by object id
        self._permissions = Permissions()  # RBAC: everything allowed unless a test narrows it
