"""The reconciler: make one cluster match its desired state, a step at a time, never blocking on Azure.

Called by the queue handler (through `shared.pipeline.processing`) for every message about a cluster.
Level-triggered like a Kubernetes controller: each step observes, then acts only on a difference,
so a duplicate message, a late event or a redelivery after a crash is harmless. Long waits
(provider registration, a cluster still creating, the extension install) end the run with a
WAITING outcome; the caller schedules a continuation instead of holding the message.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.azure.api import AzureApi, DirectoryApi, SecretsApi
from shared.azure.errors import AzureError
from shared.azure.hub_batches import HubBatches
from shared.azure.ledger import NOTHING_OWNED, Owned
from shared.azure.pacing import grow_pass, paced_pass
from shared.azure.pass_memory import PassMemory, current_pass
from shared.bootstrap.adoption import kept_text, legacy_message, patch_step, target_settings
from shared.bootstrap.argocd_extension import (
    EXTENSION_NAME,
    EXTENSION_TYPE,
    RELEASE_NAMESPACE,
    ExtensionSpec,
    ExtensionState,
    config_hash,
    desired_extension,
    ha_reason,
    legacy_installation,
    settings_patch,
    version_pin,
)
from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.cluster_shape import capacity_text, is_automatic
from shared.bootstrap.gitops import GitOpsSettings, protected_hash, render_gitops
from shared.bootstrap.hub import HubSteps, hub_spec
from shared.bootstrap.hub_batching import HubSender
from shared.bootstrap.hub_protection import HubProtection
from shared.bootstrap.identity_steps import IdentitySteps
from shared.bootstrap.install_failures import argocd_already_present
from shared.bootstrap.outcome import Awaited, Outcome, Phase, Run
from shared.bootstrap.ownership import changed_settings, extension_id, foreign_message, owned
from shared.bootstrap.preflight import Preflight, ReadCache, oidc
from shared.bootstrap.profiles import Profile
from shared.bootstrap.providers import (
    EXTENSIONS_NAMESPACE,
    REQUIRED_PROVIDERS,
    ProviderCache,
    ProviderSteps,
    registered,
)
from shared.bootstrap.repository_secret import read_repository_secret
from shared.bootstrap.scope import opted_in
from shared.errors import PermanentError
from shared.settings import Settings

_READY, _CREATING = "succeeded", "creating"
_BROKEN_CLUSTER_STATES = ("failed", "canceled", "deleting")
#: Azure's races that clear by themselves within seconds: retried sooner than other waits.
_REPLICATION = "PrincipalNotFound"  # a new principal not yet replicated to where role assignments are checked
_RACES = {"ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity", _REPLICATION}
_ACTIVITY = {"creating": "install", "updating": "update", "deleting": "uninstall"}
_RESUMED_AFTER = ("extension", "providers")  # waits whose continuation gets the pass's reads back (within the bound)


class _NotRead:
    """Marks an extension this run has not read yet (distinct from None, 'read and absent')."""


_NOT_READ = _NotRead()


@dataclass(frozen=True)
class _Job:
    """What one reconcile was asked to do (see `Reconciler.reconcile`)."""

    cluster: ClusterRef
    profile: Profile
    may_reinstall: bool
    honour_opt_out: bool
    adopt: bool
    reinstall: bool
    created: tuple[str, ...]


def _foreign_elsewhere(run: Run, cluster: ClusterRef, ext: ExtensionState, adopt: bool) -> Outcome:
    """An Argo CD extension under another name than the service's: never changed; adopting it needs a rename."""
    if not adopt:
        return run.skip("ExtensionNotOwned", foreign_message(cluster, ext.name, ext.extension_type))
    return run.fail("ArgoCDExtensionUnderAnotherName",
                    f"the cluster runs {EXTENSION_TYPE} as extension {ext.name!r}; the service manages it only under "
                    f"the name {EXTENSION_NAME!r}, and extensions cannot be renamed. Delete it (`az k8s-extension "
                    f"delete -g {cluster.resource_group} -c {cluster.name} -t {_cli_type(cluster)} -n {ext.name}`), "
                    "then send the request again to install it as argocd")


def _cli_type(cluster: ClusterRef) -> str:
    return "managedClusters" if cluster.kind == "aks" else "connectedClusters"


@dataclass
class Reconciler:
    """One reconcile = providers -> cluster checks -> identity -> extension; `steps` narrates it."""

    api: AzureApi
    directory: DirectoryApi
    settings: Settings
    providers: ProviderCache
    secrets: SecretsApi | None = None  # Key Vault, for profiles whose repository credential lives there
    batches: HubBatches | None = None  # the ledger's hub batches (None: each hub change in a PATCH of its own)
    hub_protection: HubProtection | None = None  # a hub's protected settings in spokes' PATCHes on it
    memory: PassMemory = field(init=False)  # a throttled pass's reads, for its continuation (per instance)
    identities: IdentitySteps = field(init=False)
    preflight: Preflight = field(init=False)
    hub: HubSteps = field(init=False)  # spokes registered on a hub Argo CD (shared.bootstrap.hub)
    provider_steps: ProviderSteps = field(init=False)

    def __post_init__(self) -> None:
        self.memory = PassMemory(self.providers.clock)
        self.provider_steps = ProviderSteps(self.api, self.providers)
        self.identities = IdentitySteps(self.api, self.directory, self.settings.identity_placement)
        self.preflight = Preflight(self.api, self.settings.identity_placement,
                                   ReadCache(clock=self.providers.clock, ttl=self.providers.ttl))
        self.hub = HubSteps(self.api, self.settings.identity_placement,
                            HubSender(self.api, self.batches, self.providers.clock, self.hub_protection))

    def reconcile(self, cluster: ClusterRef, profile: Profile, *, may_reinstall: bool, waiting_on: str | None = None,
                  honour_opt_out: bool = False, adopt: bool = False, owned: Owned = NOTHING_OWNED,
                  reinstall: bool = False, resuming: bool = False) -> Outcome:
        """Run the steps. `may_reinstall`: a Failed extension is installed again (a new request, or attempts
        left under MAX_INSTALL_ATTEMPTS); `honour_opt_out`: skip a cluster tagged out (events and the sweep); `adopt`:
        take over an Argo CD extension the service did not create; `owned`: what the ledger says the service owns;
        `reinstall`: a 0.0.x extension may be uninstalled (and every Application with it) to install 1.x;
        `resuming`: the pass continues one that ARM's throttling (or the pacer) interrupted, and gets its reads back."""
        run = Run()
        run.protected_hash, run.extension_seen = owned.protected_hash, owned.extension_seen
        job = _Job(cluster, profile, may_reinstall, honour_opt_out, adopt, reinstall, owned.created)
        resuming = resuming or waiting_on == "throttled"
        with paced_pass(cluster.id, _shape(waiting_on, owned.created), resumed=resuming), \
                self.memory.pass_of(cluster.id, resume=resuming or waiting_on in _RESUMED_AFTER) as reads:
            outcome = self._reconcile(run, job, waiting_on)
            # Kept for the continuation: where throttling stopped it, the pass that checks the extension's end, or
            # the one that goes on once the providers are registered; never what that continuation polls.
            reads.keep = outcome.waiting_on in ("throttled", *_RESUMED_AFTER)
            reads.keep_polled = outcome.waiting_on != "extension"
            reads.keep_providers = outcome.waiting_on != "providers"
            return outcome

    def _reconcile(self, run: Run, job: _Job, waiting_on: str | None) -> Outcome:
        cluster = job.cluster
        try:
            if waiting_on == "extension":
                # Polling our own install: one GET while it is still in progress.
                ext = self.api.get_extension(cluster, EXTENSION_NAME)
                if ext is not None and ext.in_progress:
                    return run.wait("extension", f"extension {EXTENSION_NAME} still {ext.provisioning_state}",
                                    _in_progress(ext))
                return self._full(run, job, known=ext)
            if waiting_on == "hub" and (busy := self.hub.busy(run, cluster, job.profile)) is not None:
                return busy  # one GET while the hub's extension still runs an operation
            if waiting_on == "providers":
                # Polling registrations: the pass that started them ran the checks; until all are done, only states.
                states = self.provider_steps.states(cluster.subscription)
                if not all(registered(states, namespace) for namespace in REQUIRED_PROVIDERS):
                    return self.provider_steps.register(run, cluster.subscription, states)
                return self._full(run, job, states=states)
            return self._full(run, job)
        except (PermanentError, AzureError) as exc:
            return self._failed(run, exc, cluster.subscription)

    def remove(self, cluster: ClusterRef, created: tuple[str, ...], *, adopt: bool = False) -> Outcome:
        """Uninstall: the extension first (asynchronous, polled), then the SSO credential, the role assignments,
        the federated credentials and the identity the service created. Ends UNINSTALLED, or DELETED when the
        cluster itself is gone. A foreign extension (see `shared.bootstrap.ownership`) is left alone unless the
        request adopts it."""
        with paced_pass(cluster.id, "remove"):
            return self._remove(Run(), cluster, created, adopt)

    def _remove(self, run: Run, cluster: ClusterRef, created: tuple[str, ...], adopt: bool) -> Outcome:
        try:
            ext = self.api.get_extension(cluster, EXTENSION_NAME)
            if ext is not None and ext.extension_type.lower() != EXTENSION_TYPE.lower():
                run.step(f"extension {EXTENSION_NAME!r} is of type {ext.extension_type}, not ours; left alone")
            elif ext is not None and not adopt and not owned(cluster, EXTENSION_NAME, ext.settings, created):
                run.step(f"extension {EXTENSION_NAME} was not created by the service; left alone (send the request "
                         'with "adopt": true, or `argoboot uninstall --adopt`, to remove it too)')
            elif ext is not None and ext.in_progress:
                return run.wait("extension", f"extension {EXTENSION_NAME} {ext.provisioning_state}", _in_progress(ext))
            elif ext is not None:
                run.created.append(extension_id(cluster, EXTENSION_NAME))  # adopted or ours: a follow-up knows it
                self.api.delete_extension(cluster, EXTENSION_NAME)
                run.step(f"uninstall of extension {EXTENSION_NAME} started")
                return run.wait("extension", "waiting for the extension to be removed",
                                Awaited("uninstall", began=True))
            else:
                run.removed.append(extension_id(cluster, EXTENSION_NAME))
            if (pending := self.hub.deregister(run, created)) is not None:
                return pending
            self.identities.remove(run, cluster, created)
            if self.api.get_cluster(cluster) is None:
                run.step("cluster is gone; what the service created for it is removed")
                return run.done(Phase.DELETED)
            run.step(f"Argo CD uninstalled from {cluster.name}")
            return run.done(Phase.UNINSTALLED)
        except (PermanentError, AzureError) as exc:
            return self._failed(run, exc)

    def _failed(self, run: Run, exc: PermanentError | AzureError, subscription: str | None = None) -> Outcome:
        """A permanent error fails the run; a passing Azure error makes it wait and try again. A provider Azure says
        is not registered (e.g. Microsoft.ManagedIdentity) is registered as a step, and waited for, when installing
        (`subscription` given; an uninstall registers nothing)."""
        if isinstance(exc, PermanentError):
            return run.fail(exc.code, exc.message)
        if subscription is not None and (namespace := exc.unregistered_namespace) is not None:
            run.step(f"registered provider {namespace} ({self.api.register_provider(subscription, namespace)}): "
                     f"Azure answered {exc.code}")
            return run.wait("providers", f"waiting for {namespace} to finish registering",
                            Awaited("providers", began=True))
        if exc.retryable:
            on = "throttled" if exc.status == 429 else "azure"  # throttled: ARM's limits, or pacing to them
            when = f"retrying in {round(exc.retry_after, 1):g}s" if exc.retry_after is not None else "retrying"
            if exc.code in _RACES:
                # A principal this run created: its replication's clock starts now.
                began = exc.code == _REPLICATION and run.created_principal
                return run.wait(on, f"{exc.summary}; {when}", Awaited("race", began=began), exc.retry_after)
            return run.wait(on, f"{exc.summary}; {when}", Awaited(on), exc.retry_after)
        return run.fail(exc.code, exc.message)

    def _full(self, run: Run, job: _Job, known: ExtensionState | _NotRead | None = _NOT_READ,
              states: dict[str, str] | None = None) -> Outcome:
        """All steps; `known` is the extension when this run already read it (None: it does not exist), `states`
        the providers' states when it read them.

        Reads and refusals first (providers' states, the cluster, the pre-flight checks, the extension and whose
        it is), writes after: a cluster that is refused, or skipped, costs Azure nothing."""
        cluster, profile = job.cluster, job.profile
        grow_pass(_shape(None, job.created))
        # Only the cluster's own provider before the cluster: while it is created (or refused), the others' states
        # change nothing, and they are read once it is ready (on their own schedule: `ProviderCache`).
        own = states if states is not None else self.provider_steps.states(cluster.subscription, (cluster.namespace,))
        if not registered(own, cluster.namespace):
            # A cluster cannot be read before its own provider is registered (and none can exist until it is).
            states = states if states is not None else self.provider_steps.states(cluster.subscription)
            pending = self.provider_steps.register(run, cluster.subscription, states)
            if pending.phase is Phase.WAITING:
                return pending  # else registered at once (Azure may answer so; a plan assumes it): read on
        facts = self.api.get_cluster(cluster)
        if facts is None:
            return run.fail("ClusterNotFound", f"{cluster.id} does not exist (deleted, or a typo in the id). "
                            "Check the id, then send the request again")
        state = facts.provisioning_state.lower()
        if state in _BROKEN_CLUSTER_STATES:
            return run.fail("ClusterNotReady", f"the cluster's provisioningState is {facts.provisioning_state}; "
                            "repair or recreate it, then send the request again")
        if state == _CREATING and facts.created_at is not None:
            # ARM says when the create began: the wait is timed from then.
            return run.wait("cluster", f"cluster is {facts.provisioning_state}",
                            Awaited("create", since=facts.created_at))
        if state != _READY:
            return run.wait("cluster", f"cluster is {facts.provisioning_state}", Awaited("cluster"))
        if job.honour_opt_out and not opted_in(facts.tags, self.settings):
            run.step(f"cluster opted out (tag {self.settings.opt_tag}={facts.tags.get(self.settings.opt_tag, '')!r}"
                     f", default {'in' if self.settings.opt_in_by_default else 'out'}); nothing done")
            return run.done(Phase.SKIPPED)
        if (ended := self.hub.spoke(run, cluster, profile, facts)) is not None:
            return ended
        waiting = self.preflight.refusals(cluster, profile, facts, run.step)
        if waiting is not None:
            return run.wait("connectivity", waiting, Awaited("connectivity"))
        if states is None:
            states = self.provider_steps.states(cluster.subscription)
        # Extensions cannot exist before their provider is registered, and reading them then would register it.
        readable = registered(states, EXTENSIONS_NAMESPACE)
        ext = (self._read_extension(cluster) if isinstance(known, _NotRead) else known) if readable else None
        adopting = False  # taking it over on this pass (kept settings are recorded in it from then on)
        if ext is not None and ext.extension_type.lower() == EXTENSION_TYPE.lower():
            if not owned(cluster, ext.name, ext.settings, job.created):
                if ext.name.lower() != EXTENSION_NAME:
                    return _foreign_elsewhere(run, cluster, ext, job.adopt)
                if not job.adopt:
                    return run.skip("ExtensionNotOwned", foreign_message(cluster, ext.name, ext.extension_type))
                run.step(f"adopting extension {ext.name} ({ext.extension_type}, {ext.provisioning_state}), which the "
                         'service did not create: the request says "adopt": true')
                adopting = True
            run.created.append(extension_id(cluster, EXTENSION_NAME))  # ours from now on (the ledger keeps it)
        offer = ext is None or ext.provisioning_state.lower() == "failed" or \
            (profile.version is not None and ext.pinned_version != profile.version)  # a first install, or a new pin
        if readable and offer:
            self.preflight.availability(cluster, profile, facts, run.step)
        if profile.workload_identity.enabled:
            self.preflight.identity_group(cluster)
        pending = self.provider_steps.register(run, cluster.subscription, states)  # the first write
        if pending.phase is Phase.WAITING:
            return pending
        if not readable and offer:  # registered just now (in a plan: would be, so the check is unknown)
            self.preflight.availability(cluster, profile, facts, run.step)
        client_id = None
        if profile.workload_identity.enabled:
            if not oidc(cluster, profile, facts):
                self._enable_workload_identity(run, cluster, facts)
                return run.wait("cluster", "waiting for AKS to finish enabling the OIDC issuer and workload identity",
                                Awaited("cluster", began=True))
            issuer = facts.oidc_issuer_url or ""
            client_id = self.identities.ensure_identity(run, cluster, profile, facts, issuer).client_id
            self.identities.ensure_sso(run, cluster, profile, issuer)
        spec = desired_extension(profile, facts, client_id, self._gitops(run, cluster, profile, facts, client_id))
        spec = hub_spec(profile, spec, ext)
        run.config_hash = config_hash(spec.full_settings)
        run.step(f"cluster checked: {capacity_text(facts)}; {ha_reason(profile, facts)}"
                 + (", AKS Automatic: resource requests and limits for every component" if is_automatic(facts)
                    else ""))
        reads = current_pass()
        if reads is not None and reads.afresh("extensions") and self._read_extension(cluster) != ext:
            # A resumed pass's kept read of the extensions is confirmed before the extension is written.
            return run.wait("azure", "the cluster's extensions changed since they were read; reading all again",
                            Awaited("azure"))
        return self._extension(run, cluster, spec, ext, may_reinstall=job.may_reinstall, adopting=adopting,
                               reinstall=job.reinstall)

    def _read_extension(self, cluster: ClusterRef) -> ExtensionState | None:
        """The `argocd` extension, else any other Argo CD extension on the cluster (one list call)."""
        found = self.api.list_extensions(cluster)
        ours = next((e for e in found if e.name.lower() == EXTENSION_NAME), None)
        return ours or next((e for e in found if e.extension_type.lower() == EXTENSION_TYPE.lower()), None)

    def _gitops(self, run: Run, cluster: ClusterRef, profile: Profile, facts: ClusterFacts,
                client_id: str | None) -> GitOpsSettings | None:
        """The profile's gitops section for this cluster, with the repository secret read from Key Vault."""
        if profile.gitops is None:
            return None
        vault_secret = profile.gitops.repository.key_vault_secret
        secret = None if vault_secret is None else read_repository_secret(
            self.secrets, vault_secret, f"gitops.repository.keyVaultSecret of profile {profile.name!r}")
        gitops = render_gitops(profile.gitops, cluster, facts, client_id, secret, RELEASE_NAMESPACE)
        if gitops.view is not None:
            run.gitops_root = gitops.view.as_dict(applied=False)
        return gitops

    def _enable_workload_identity(self, run: Run, cluster: ClusterRef, facts: ClusterFacts) -> None:
        """Turn on the AKS OIDC issuer and workload identity (`workloadIdentity.enableOnCluster`), a cluster write."""
        missing = " and ".join(part for part, ok in (("the OIDC issuer", facts.oidc_issuer_url),
                                                     ("workload identity", facts.workload_identity)) if not ok)
        try:
            self.api.enable_workload_identity(cluster)
        except AzureError as exc:
            if exc.status != 403:
                raise
            # The app's role leaves this out unless the deployment turned the feature on: managedClusters/write, and
            # userAssignedIdentities/assign/action, which AKS checks on every PUT of a cluster whose control plane
            # has a user-assigned identity (LinkedAuthorizationFailed).
            raise PermanentError(exc.code, f"{exc.message} The service may turn on workload identity only where "
                                 "it was deployed with enableWorkloadIdentityOnClusters=true (azd env set "
                                 "ARGOBOOT_ENABLE_WORKLOAD_IDENTITY_ON_CLUSTERS true, then azd provision; see "
                                 f"docs/deploy.md), or run `az aks update -g {cluster.resource_group} -n "
                                 f"{cluster.name} --enable-oidc-issuer --enable-workload-identity` yourself, then "
                                 "send the request again") from exc
        run.step(f"enabling {missing} on the AKS cluster (workloadIdentity.enableOnCluster)")

    def _extension(self, run: Run, cluster: ClusterRef, spec: ExtensionSpec, ext: ExtensionState | None,
                   *, may_reinstall: bool, adopting: bool, reinstall: bool) -> Outcome:
        if ext is None:
            return self._install(run, cluster, spec, "install started")
        if ext.extension_type.lower() != EXTENSION_TYPE.lower():
            return run.fail("ExtensionNameTaken", f"an extension named {EXTENSION_NAME!r} of type "
                            f"{ext.extension_type} already exists on the cluster; remove it or rename it")
        if ext.in_progress:
            return run.wait("extension", f"extension {EXTENSION_NAME} {ext.provisioning_state}",
                            _in_progress(ext))
        legacy = legacy_installation(ext)
        if legacy is not None:
            # 0.0.x cannot be upgraded in place: Microsoft's path is uninstall, then install 1.x with the new keys.
            # The uninstall takes Argo CD's CRDs and every Application with them: only when the request asks.
            if not reinstall:
                return run.fail("LegacyExtensionNeedsReinstall", legacy_message(cluster, ext.version or legacy))
            self.api.delete_extension(cluster, EXTENSION_NAME)
            run.step(f"legacy Argo CD extension found ({legacy}): uninstalling it, as the request asks (reinstall), "
                     "with every Application on the cluster, to reinstall 1.x with the new keys")
            return run.wait("extension", "waiting for the legacy extension to be removed",
                            Awaited("uninstall", began=True))
        if ext.provisioning_state.lower() == "failed":
            present = argocd_already_present(ext.error_message)
            if present is not None:
                return run.fail("ArgoCDAlreadyPresent", present)
            if not may_reinstall:
                return run.fail(ext.error_code or "ExtensionFailed",
                                (ext.error_message or "the extension install failed without an error message")
                                + f" (after {self.settings.max_install_attempts} attempts; send a request to try "
                                "again)")
            return self._install(run, cluster, spec, f"had failed ({ext.error_code}); install restarted")
        target = target_settings(ext.settings, spec.full_settings, adopting=adopting)
        run.config_hash = config_hash(target)  # what it holds once converged, kept settings too (the sweep compares)
        patch = settings_patch(ext.settings, target)
        wanted_hash = protected_hash(cluster, spec.protected)
        changed = wanted_hash != run.protected_hash  # new, or the secret changed in Key Vault
        touched = run.extension_seen not in (None, ext.modified_at)  # updated by someone else since: Azure dropped
        pin = version_pin(ext, spec)
        run.extension_seen = None  # seen again once converged after this run's write, if any
        if patch or ((changed or touched) and spec.protected) or pin is not None:
            # Azure deletes protected settings an update leaves out (as whoever drifted the settings did): all, always.
            protected = spec.protected or None
            self.api.patch_extension(cluster, EXTENSION_NAME, patch, protected, pin)
            run.protected_hash = wanted_hash
            if adopting:
                run.step("adopted: changed " + "; ".join(changed_settings(ext.settings, patch)))
            elif patch or protected:
                run.step(patch_step(ext.settings, spec, patch, protected is not None, changed))
            if pin is not None:
                run.step(f"version: {ext.pinned_version or 'the train'} -> {pin.version or 'the train'}")
            return run.wait("extension", "waiting for the update to finish", Awaited("update", began=True))
        run.extension_seen = ext.modified_at
        if run.gitops_root is not None:
            run.gitops_root = {**run.gitops_root, "applied": True}
        run.step(f"extension {EXTENSION_NAME} {ext.provisioning_state}"
                 + (f" (version {ext.version})" if ext.version else "")
                 + (" (adopted: its settings already match the profile)" if adopting else kept_text(ext.settings)))
        return run.done()

    def _install(self, run: Run, cluster: ClusterRef, spec: ExtensionSpec, what: str) -> Outcome:
        """PUT without the deferred settings: Helm refuses a first install holding a custom resource of the CRDs
        the chart itself installs, so the root Application follows in a PATCH once the extension is Succeeded."""
        created = self.api.put_extension(cluster, EXTENSION_NAME, spec)
        run.installs += 1
        run.protected_hash = protected_hash(cluster, spec.protected)
        run.created.append(extension_id(cluster, EXTENSION_NAME))
        later = " (the root Application follows once Argo CD and its CRDs are installed)" if spec.deferred else ""
        run.step(f"extension {EXTENSION_NAME} ({EXTENSION_TYPE}) {what}: {created.provisioning_state}{later}")
        return run.wait("extension", "waiting for the install to finish", Awaited("install", began=True))


def _shape(waiting_on: str | None, created: tuple[str, ...]) -> str:
    """The kind of pass, which the pacer admits with what its kind usually costs: a poll, a first install (nothing
    owned yet: reads, then the identity and extension writes), a reconcile."""
    if waiting_on in ("extension", "providers"):
        return "poll"
    return "reconcile" if created else "install"


def _in_progress(ext: ExtensionState) -> Awaited:
    """An operation found running (maybe not ours): what it awaits, its clock unknown."""
    return Awaited(_ACTIVITY.get(ext.provisioning_state.lower(), "install"))
