"""The sweep: find every cluster in scope that is not converged and queue a reconcile for it.

Event Grid can drop an event (a subscription created before the topic, a dead-lettered delivery, a
deleted event subscription), and Azure can change under the service (an extension removed or edited
by hand, a profile file changed by a deployment). The sweep is what catches all of that: run by a
timer (`SWEEP_SCHEDULE`), it reads the fleet of the allowed subscriptions from Azure Resource Graph
(`shared.pipeline.fleet_view`: a few paged queries, not a read per cluster), compares it with the ledger, and
enqueues a message only for a cluster that needs one, on the cluster's session, marked as coming from the sweep (so
it never overrides an explicit request or an uninstall). Identities the service created for clusters that are gone
are cleaned up the same way. When Resource Graph refuses (no rights, a cloud that does not serve it, an answer it
cannot give), the sweep falls back to ARM's lists per subscription and a read per cluster, and says so in its
record; when its quota is spent, the sweep waits for the next timer rather than spend ARM's budget instead.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.azure.api import AzureApi, ResourceGraphApi, SecretsApi
from shared.azure.errors import AzureError
from shared.azure.ledger import ClusterRecord, Ledger
from shared.azure.outbox import Outbox, OutgoingMessage
from shared.bootstrap.argocd_extension import EXTENSION_NAME, EXTENSION_TYPE, ExtensionState, config_hash
from shared.bootstrap.cluster_ids import ClusterRef, InvalidClusterId, ListedCluster, parse_cluster_id
from shared.bootstrap.gitops import protected_hash, repository_protected
from shared.bootstrap.profiles import Profile, ProfileCatalog
from shared.bootstrap.scope import opted_in, out_of_scope
from shared.bootstrap.workload_identity import (
    CLUSTER_ID_TAG,
    CLUSTER_TAG,
    MANAGED_BY,
    MANAGED_BY_TAG,
    ManagedIdentity,
    cluster_digest,
)
from shared.errors import RequestRejected
from shared.log_context import get_logger
from shared.pipeline.fleet_view import FleetView, read_fleet
from shared.pipeline.hub_sweep import HubDrift
from shared.pipeline.install_request import InstallRequest
from shared.pipeline.outcome_record import log_sweep
from shared.pipeline.processing import EVENT_TIME_PROPERTY, SOURCE_PROPERTY
from shared.pipeline.rollout import Rollouts
from shared.settings import Settings

log = get_logger("argoboot.sweep")


@dataclass
class SweepReport:
    """What one sweep saw and did; logged, and returned for tests."""

    clusters: int = 0
    enqueued: dict[str, str] = field(default_factory=dict)  # cluster key -> why
    opted_out: int = 0
    out_of_scope: int = 0
    orphans_reported: list[str] = field(default_factory=list)  # identities we cannot attribute to a cluster
    failed_subscriptions: dict[str, str] = field(default_factory=dict)
    source: str = "resource-graph"  # where the fleet was read: resource-graph, or arm (the fallback)
    fallback: str | None = None  # why Resource Graph was not used (its answer), when the source is arm
    deferred: str | None = None  # why the sweep did nothing this time (Resource Graph's quota spent)


@dataclass
class Sweeper:
    api: AzureApi
    ledger: Ledger
    outbox: Outbox
    settings: Settings
    profiles: ProfileCatalog
    clock: Callable[[], float]
    secrets: SecretsApi | None = None  # Key Vault: a rotated repository secret is re-applied
    graph: ResourceGraphApi | None = None  # Resource Graph: the fleet in a few queries (None: ARM's lists only)
    last_report: SweepReport = field(default_factory=SweepReport)
    hubs: HubDrift = field(init=False)  # spokes: their registration and role assignments (shared.pipeline.hub_sweep)
    rollouts: Rollouts = field(init=False)  # staged profile changes (shared.pipeline.rollout)
    view: FleetView | None = field(init=False, default=None)  # this sweep's Resource Graph view (None: ARM's lists)

    def __post_init__(self) -> None:
        self.hubs = HubDrift(self.api)
        self.rollouts = Rollouts(self.ledger.rollouts, self.profiles, self.clock, self.ledger.get_cluster)

    def run(self) -> SweepReport:
        report = self.last_report = SweepReport()
        self.hubs.reset()
        self.rollouts.reset()
        self.view = self._read_view(report)
        if report.deferred is None:
            records = {r.key: r for r in self.ledger.list_clusters()}
            for subscription in sorted(self.settings.allowed_subscriptions):
                try:
                    self._subscription(subscription, records, report)
                except AzureError as exc:  # one subscription failing (e.g. not onboarded) must not stop the others
                    report.failed_subscriptions[subscription] = f"{exc.status} {exc.code}: {exc.message}"
                    log.warning("sweep: subscription %s skipped: %s %s", subscription, exc.code, exc.message)
        log_sweep(clusters=report.clusters, enqueued=len(report.enqueued), opted_out=report.opted_out,
                  out_of_scope=report.out_of_scope, orphans_reported=len(report.orphans_reported),
                  failed_subscriptions=len(report.failed_subscriptions), source=report.source,
                  fallback=report.fallback, deferred=report.deferred)
        return report

    def _read_view(self, report: SweepReport) -> FleetView | None:
        """Resource Graph's view of the fleet; None (and the reason in the report) when the sweep reads ARM."""
        if self.graph is None:
            report.source, report.fallback = "arm", "Resource Graph not configured"
            return None
        try:
            return read_fleet(self.graph, sorted(self.settings.allowed_subscriptions))
        except AzureError as exc:
            if exc.status == 429:  # the quota is spent: ARM's listing would cost thousands of reads instead
                report.deferred = f"Resource Graph throttled ({exc.code}); retry after {exc.retry_after or 0:.0f} s"
                log.warning("sweep: deferred to the next timer: %s", report.deferred)
                return None
            report.source, report.fallback = "arm", f"Resource Graph refused: {exc.status} {exc.code}: {exc.message}"
            log.warning("sweep: reading ARM per subscription instead; %s", report.fallback)
            return None

    def _subscription(self, subscription: str, records: dict[str, ClusterRecord], report: SweepReport) -> None:
        view = self.view
        listed = view.clusters.get(subscription.lower(), []) if view else self.api.list_clusters(subscription)
        present = {c.ref.key for c in listed}
        for cluster in listed:
            report.clusters += 1
            if out_of_scope(cluster.ref, self.settings) is not None:
                report.out_of_scope += 1
                continue
            if not opted_in(cluster.tags, self.settings):
                report.opted_out += 1
                continue
            why = self._why(cluster, records.get(cluster.ref.key))
            if why:
                self._enqueue(cluster.ref, "bootstrap", why, report)
        for record in records.values():  # the ledger knows resources for a cluster that is gone
            if record.key.split("/")[2] == subscription and record.key not in present and record.created and \
                    self._gone(parse_cluster_id(record.cluster_id)):
                self._enqueue(parse_cluster_id(record.cluster_id), "uninstall", "cluster is gone", report)
        self._orphaned_identities(subscription, present, records, report)

    def _why(self, cluster: ListedCluster, record: ClusterRecord | None) -> str | None:
        """Why this cluster needs a reconcile, or None when it is converged (or meant to be left alone)."""
        now = self.clock()
        if record is None:
            return "never bootstrapped (its event was missed)"
        if record.intent == "absent":
            return "recreated after its delete" if record.deleted_at is not None else None
        if record.phase == "waiting":
            return "stuck waiting" if now - record.last_changed > self.settings.stuck_after_seconds else None
        if record.last_error_code == "ArcClusterDisconnected":  # retried when its agents are back, not before
            return "Arc cluster connected again" if self._connected(cluster.ref) else None
        if record.last_error_code == "ExtensionNotOwned":  # left alone until it is adopted or removed
            return "the foreign Argo CD extension is gone" if self._read_argocd(cluster.ref) is None else None
        if record.phase in ("failed", "pending", "skipped"):
            return f"last outcome {record.phase}"
        if record.phase != "succeeded":
            return None
        try:
            profile = self.profiles.resolve(record.profile, record.overrides)
        except RequestRejected as exc:
            log.warning("sweep: cluster %s: its profile cannot be resolved (%s)", cluster.ref.key, exc.description)
            return None
        if profile.digest != record.profile_digest and self.rollouts.admits(cluster, profile):
            return f"profile {profile.name!r} changed since it was applied"
        hub = profile.hub
        if hub is not None and hub.cluster is not None and cluster.ref.kind == "aks":
            drift = self.hubs.why(cluster.ref, record)
            if drift is not None or not hub.own_argocd:
                return drift
        ext = self._extension(cluster.ref, record)
        if ext is None:
            return "extension missing"
        if ext.provisioning_state.lower() == "failed":
            return "extension failed"
        if record.config_hash and config_hash(ext.settings) != record.config_hash:
            return "extension settings drifted from the profile"
        if record.protected_hash and record.extension_seen not in (None, ext.modified_at):
            return "extension updated by someone else (Azure drops protected settings an update leaves out)"
        return self._secret_rotated(cluster.ref, profile, record)

    def _secret_rotated(self, cluster: ClusterRef, profile: Profile, record: ClusterRecord) -> str | None:
        """Azure never returns protected settings: a fresh Key Vault read, hashed, against the ledger's hash."""
        vault_secret = profile.gitops.repository.key_vault_secret if profile.gitops else None
        if vault_secret is None or self.secrets is None or profile.gitops is None:
            return None
        try:
            secret = self.secrets.get_secret(vault_secret)
        except AzureError as exc:
            return f"Key Vault secret unreadable ({exc.status} {exc.code})"
        if protected_hash(cluster, repository_protected(profile.gitops, secret)) != record.protected_hash:
            return "repository secret changed in Key Vault since it was applied"
        return None

    def _read_argocd(self, cluster: ClusterRef) -> object | None:
        """Any Argo CD extension on the cluster, under whatever name."""
        found = self.view.argocd.get(cluster.key, []) if self.view else self.api.list_extensions(cluster)
        return next((e for e in found if e.extension_type.lower() == EXTENSION_TYPE.lower()), None)

    def _extension(self, cluster: ClusterRef, record: ClusterRecord) -> ExtensionState | None:
        """The service's extension as the view shows it; from ARM without a view, or when the extension holds
        protected settings (an update by someone else that changed no public setting shows only in systemData's
        lastModifiedAt, which Resource Graph's rows do not carry)."""
        if self.view is None or record.protected_hash:
            return self.api.get_extension(cluster, EXTENSION_NAME)
        return self.view.extension(cluster.key, EXTENSION_NAME)

    def _connected(self, cluster: ClusterRef) -> bool:
        if self.view is not None:
            return self.view.connected(cluster.key)
        facts = self.api.get_cluster(cluster)
        return facts is not None and (facts.connectivity_status or "").lower() == "connected"

    def _gone(self, cluster: ClusterRef) -> bool:
        """Missing from the view or the list: ARM confirms it is gone (Resource Graph lags; an uninstall of a
        cluster it has not indexed yet would remove Argo CD from a live cluster)."""
        return self.view is None or self.api.get_cluster(cluster) is None

    def _orphaned_identities(self, subscription: str, present: set[str], records: dict[str, ClusterRecord],
                             report: SweepReport) -> None:
        """Identities carrying our tags for a cluster that no longer exists and that the ledger does not know."""
        live = {cluster_digest(key) for key in present} | {cluster_digest(key) for key in records}
        identities: list[ManagedIdentity] = self.view.identities.get(subscription.lower(), []) if self.view \
            else self.api.list_identities(subscription)
        for identity in identities:
            tags = identity.tags
            if tags.get(MANAGED_BY_TAG) != MANAGED_BY or tags.get(CLUSTER_TAG) in live:
                continue
            try:
                cluster = parse_cluster_id(tags.get(CLUSTER_ID_TAG, ""))
            except InvalidClusterId:
                report.orphans_reported.append(identity.id)
                log.warning("sweep: identity %s is tagged as ours for a cluster that is gone, but names no cluster "
                            "id; delete it by hand if it is not needed", identity.id)
                continue
            if cluster_digest(cluster.key) == tags.get(CLUSTER_TAG) and self._gone(cluster):
                self._enqueue(cluster, "uninstall", "cluster is gone; its identity is left", report)

    def _enqueue(self, cluster: ClusterRef, action: str, why: str, report: SweepReport) -> None:
        now = self.clock()
        request = InstallRequest(request_id=f"sweep-{int(now)}-{_digest(cluster.key)}"[:128], action=action,
                                 cluster=cluster)
        slot = int(now // 60)  # two sweeps in the same minute send the same message id: one is dropped
        self.outbox.send(OutgoingMessage(
            queue=self.settings.work_queue_name, body=json.dumps(request.to_body()).encode(),
            message_id=f"sweep-{_digest(cluster.key)}-{slot}", session_id=cluster.session_id,
            application_properties={SOURCE_PROPERTY: "sweep", EVENT_TIME_PROPERTY: str(now)}))
        report.enqueued[cluster.key] = why
        log.info("sweep: cluster %s enqueued (%s): %s", cluster.key, action, why)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]
