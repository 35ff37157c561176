"""What every resource family of the local ARM reads besides its own state: the tenant, the emulator's URL, RBAC,
and the seeded durations of long operations when a benchmark draws them (`localazure.arm.timing`).

Each family (`localazure.arm.providers`, `clusters`, `extensions`, `identities`, `roles`, `graph`) is one
module with its resources, their bodies and their routes: a mixin over `ArmState` whose `__init__` adds its
own resources (keyed by lower-cased id) and its timings (seconds on the emulator's clock). A family that
reads another's resources subclasses it: extensions live on clusters, role assignments look up the
identities' principals. `ArmEmulator` inherits them all, so handlers read `self._clusters` or
`self.extension_install_seconds` directly. Handlers never lock: `ArmEmulator` holds its lock around them.
"""

from __future__ import annotations

from localazure.arm.access import Permissions
from localazure.arm.common import new_guid
from localazure.arm.timing import Durations


class ArmState:
    """The tenant the resources belong to, the URL the emulator serves on (set at start), who may do what, and the
principals in the tenant's directory."""

    def __init__(self) -> None:
        self.tenant_id = new_guid()
        self.url = ""
        self._permissions = Permissions()  # RBAC: everything allowed unless a test narrows it
        self.durations: Durations | None = None  # seeded draws instead of the families' fixed seconds
        # The directory's service principals that role assignments can name (identities', extensions' system
        # identities): principal id -> when it was created, on the clock.
        self._principals: dict[str, float] = {}
