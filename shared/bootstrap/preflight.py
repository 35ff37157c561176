"""Pre-flight: every check that can refuse a cluster, run on reads alone before the service writes anything.

Called by the reconciler after it has read the cluster (and before it registers a provider, creates an
identity or touches the extension), so a refused cluster costs Azure nothing and the refusal comes at once,
with the fix, instead of as a Helm time-out minutes later. The checks: a managed-identity AKS cluster; an Arc
cluster whose agents are connected; the OIDC issuer a workload-identity profile needs; enough nodes Argo CD can
run on for HA; `Microsoft.ArgoCD` offered in the cluster's region, for its Kubernetes version, in the pinned
version; and the identity's resource group. Reads Azure's answers cannot change within a run (extension types
per region and train, a resource group that exists) are cached like providers.

A check refuses only on Azure's evidence (a service principal's client id, agents reported offline, a region's list
of versions without a fitting one). What it cannot evaluate (an answer that is missing, an API not served in the
region, a 5xx or throttling past the retries, a shape it does not know) is *unknown*: the install goes ahead, and a
step naming the check and why goes to the steps, hence the reply, the ledger, the status API and `plan`.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from shared.azure.api import ClusterApi
from shared.azure.errors import AzureError
from shared.bootstrap.argocd_extension import EXTENSION_TYPE, high_availability, train_text
from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.extension_versions import CLUSTER_TYPES, ExtensionTypeVersion
from shared.bootstrap.identity_placement import IdentityPlacement
from shared.bootstrap.profiles import Profile
from shared.bootstrap.single_flight import SingleFlight
from shared.errors import PermanentError

#: Arc agent states in which an extension operation cannot finish (the agents pull it from Azure).
DISCONNECTED = ("offline", "expired", "agentnotinstalled")
CONNECTING = "connecting"
#: Where a check's outcome is told when it is unknown (the run's steps).
Note = Callable[[str], None]
#: The error codes of a pre-flight refusal: the cluster (or its hub) cannot take the extension as asked, on Azure's
#: evidence, and nothing was written. The CLI exits "refused" on them, not "failed" (`argoboot_cli.exit_codes`);
#: tests/unit/test_exit_codes.py checks this lists every code the pre-flight checks raise.
REFUSALS = frozenset({
    "ClusterNotManagedIdentity", "ArcClusterDisconnected", "ClusterWorkloadIdentityDisabled", "NotEnoughNodesForHA",
    "ExtensionNotOffered", "ExtensionNotOfferedForVersion", "ExtensionVersionNotAvailable",
    "IdentityResourceGroupNotFound",
    # a spoke its hub cannot take (shared.bootstrap.spoke_preflight, shared.bootstrap.hub)
    "SpokeUnreadable", "SpokeWithoutEntra", "SpokeWithoutAzureRbac", "PrivateSpoke", "SpokeWithoutFqdn", "HubNotFound",
    "HubNotReady", "HubWithoutArgoCD", "HubWithoutWorkloadIdentity", "SpokeInAnotherTenant", "ArcSpoke",
    "SpokeIsItsHub", "HubIdentityUnknown", "HubFull",
})
VERSIONS_COMMAND = ("az k8s-extension extension-types list-versions-by-location --location {location} "
                    f"--extension-type {EXTENSION_TYPE}")


@dataclass
class ReadCache:
    """Answers Azure gives the same way for a while (per instance), with when they were read; runs that miss the same
    key at the same time share one read (`shared.bootstrap.single_flight`)."""

    clock: Callable[[], float]
    ttl: float
    _seen: dict[Hashable, tuple[float, Any]] = field(default_factory=dict)
    flights: SingleFlight = field(default_factory=SingleFlight)

    def get(self, key: Hashable, read: Callable[[], Any], *, keep: Callable[[Any], bool] = lambda _: True) -> Any:
        """The cached answer while fresh, else a new read (cached when `keep` says: a missing resource group is
        not, since someone may create it any minute)."""
        seen = self._seen.get(key)
        if seen is not None and self.clock() - seen[0] < self.ttl:
            return seen[1]
        value = self.flights.read(key, read)
        if keep(value):
            self._seen[key] = (self.clock(), value)
        return value


@dataclass
class Preflight:
    api: ClusterApi
    placement: IdentityPlacement
    cache: ReadCache

    def refusals(self, cluster: ClusterRef, profile: Profile, facts: ClusterFacts, note: Note) -> str | None:
        """Raise PermanentError for a cluster the extension cannot go on; return a reason to wait, or None."""
        managed_identity(cluster, facts, note)
        waiting = connectivity(cluster, profile, facts, note)
        if profile.workload_identity.enabled:
            oidc(cluster, profile, facts)
        high_availability(profile, facts)  # refuses `ha: on` below HA's nodes, with the numbers
        return waiting

    def availability(self, cluster: ClusterRef, profile: Profile, facts: ClusterFacts, note: Note) -> list[str]:
        """The versions this cluster can take on the train; refuse a region, Kubernetes version or pinned version
        Azure does not offer (a permanent failure that names them, not a Helm time-out). [] when Azure's answer
        cannot be read: the check is unknown (noted), not a refusal."""
        location, train = facts.location.lower().replace(" ", ""), profile.release_train
        command = VERSIONS_COMMAND.format(location=location) + (f" --release-train {train}" if train else "")
        on_train = train_text(train)
        try:
            offered: list[ExtensionTypeVersion] | None = self.cache.get(
                ("extension-types", location, (train or "").lower()),
                lambda: self.api.extension_type_versions(cluster.subscription, location, EXTENSION_TYPE, train))
        except AzureError as exc:
            note(unknown("availability", f"Azure's extension-types API answered {exc.status} {exc.code} for "
                         f"region {location} ({exc.message}); installing anyway (`{command}` shows what it offers)"))
            return []
        if not offered:
            raise PermanentError(
                "ExtensionNotOffered",
                f"Azure does not offer {EXTENSION_TYPE} on {on_train} in region {location}, where "
                f"{cluster.name} runs; a cluster there cannot take the extension. Use a cluster in a region that "
                f"offers it (`{command}` lists what a region offers)")
        k8s = facts.kubernetes_version
        fits = [v.version for v in offered if v.takes(cluster.kind, facts.distribution, k8s)]
        if not fits:
            raise PermanentError(
                "ExtensionNotOfferedForVersion",
                f"no {EXTENSION_TYPE} version on {on_train} in region {location} supports "
                f"{CLUSTER_TYPES[cluster.kind]} {cluster.name} on Kubernetes {k8s or 'unknown'} (distribution "
                f"{facts.distribution or 'unknown'}); offered there: {', '.join(v.version for v in offered)}. "
                f"Upgrade the cluster's Kubernetes version (`{_upgrade(cluster)}`), then send the request again "
                f"(`{command}` shows each version's unsupported Kubernetes versions)")
        if profile.version is not None and profile.version not in fits:
            raise PermanentError(
                "ExtensionVersionNotAvailable",
                f"profile {profile.name!r} pins {EXTENSION_TYPE} version {profile.version}, which {cluster.name} "
                f"cannot take: in region {location} on {on_train}, for Kubernetes "
                f"{k8s or 'unknown'}, it can take {', '.join(fits)}. Pin one of those in profiles/{profile.name}.yaml "
                "(version:), or remove version to follow the train")
        return fits

    def identity_group(self, cluster: ClusterRef) -> None:
        """The resource group IDENTITY_RESOURCE_GROUP names for this cluster exists (checked in run and plan)."""
        home = self.placement.home(cluster)
        if not home.configured:
            return  # the cluster's own group: it exists, the cluster is in it
        exists = self.cache.get(("resource-group", home.subscription, home.resource_group.lower()),
                                lambda: self.api.resource_group_exists(home.subscription, home.resource_group),
                                keep=bool)
        if not exists:
            raise PermanentError(
                "IdentityResourceGroupNotFound",
                f"resource group {home.resource_group} does not exist in subscription {home.subscription}, where "
                f"IDENTITY_RESOURCE_GROUP puts the managed identity of {cluster.name}. Create it (`az group create "
                f"-n {home.resource_group} -l <region> --subscription {home.subscription}`), or "
                f"{self.placement.fix(cluster)}")


def unknown(check: str, why: str) -> str:
    """How a check that could not be made reads in the steps (and the reply, the ledger, the status API, a plan)."""
    return f"pre-flight check {check} unknown: {why}"


def managed_identity(cluster: ClusterRef, facts: ClusterFacts, note: Note) -> None:
    if facts.managed_identity is None:
        note(unknown("managed-identity", "the cluster's answer names neither a managed identity nor a service "
                     "principal; installing anyway"))
    elif not facts.managed_identity:
        raise PermanentError(
            "ClusterNotManagedIdentity",
            "the AKS cluster uses a service principal; the Argo CD extension needs a managed-identity cluster. "
            f"Convert it with `az aks update -g {cluster.resource_group} -n {cluster.name} --enable-managed-identity`"
            " (then `az aks nodepool upgrade --node-image-only` per pool), and send the request again")


def connectivity(cluster: ClusterRef, profile: Profile, facts: ClusterFacts, note: Note) -> str | None:
    """An Arc cluster's agents must be Connected for an extension operation to finish: Connecting is waited out;
    Offline, Expired or no agents fail with the fix, or wait when the profile says `arc.whenDisconnected: wait`."""
    status = (facts.connectivity_status or "").lower()
    if cluster.kind == "arc" and not status:
        note(unknown("connectivity", "the Arc cluster's answer has no connectivityStatus; installing anyway"))
    if cluster.kind != "arc" or not status or status == "connected":
        return None
    if status == CONNECTING:
        return "the Arc cluster's agents are Connecting; waiting for them to connect"
    if status in DISCONNECTED and profile.when_disconnected == "wait":
        return (f"the Arc cluster's agents are {facts.connectivity_status}; waiting for them to reconnect "
                f"(profile {profile.name!r}: arc.whenDisconnected: wait)")
    where = f"-g {cluster.resource_group} -n {cluster.name}"
    if status == "expired":
        fix = ("its agents were offline for more than 90 days and their certificate expired: reconnect it with "
               f"`az connectedk8s delete {where}` and `az connectedk8s connect {where}` where kubectl reaches it")
    elif status == "agentnotinstalled":
        fix = f"install the agents with `az connectedk8s connect {where}` where kubectl reaches the cluster"
    else:
        fix = ("bring its agents back: check the cluster runs and reaches Azure (`kubectl get pods -n azure-arc`), "
               f"then `az connectedk8s show {where} --query connectivityStatus` says Connected")
    raise PermanentError(
        "ArcClusterDisconnected",
        f"the Arc cluster's agents are {facts.connectivity_status}, so an extension install cannot finish; {fix}. "
        "The sweep retries once it is Connected again (or send the request again); a profile with "
        "arc.whenDisconnected: wait waits instead")


def oidc(cluster: ClusterRef, profile: Profile, facts: ClusterFacts) -> bool:
    """Whether the cluster has what workload identity needs; False when the service must turn it on (AKS, with
    `workloadIdentity.enableOnCluster`); refused otherwise."""
    if facts.oidc_issuer_url and (facts.workload_identity or cluster.kind == "arc"):
        return True
    missing = " and ".join(part for part, ok in (("the OIDC issuer", facts.oidc_issuer_url),
                                                 ("workload identity", facts.workload_identity)) if not ok)
    if cluster.kind == "arc":
        raise PermanentError(
            "ClusterWorkloadIdentityDisabled",
            f"profile {profile.name!r} uses workload identity but the Arc cluster has no OIDC issuer. Run `az "
            f"connectedk8s update -g {cluster.resource_group} -n {cluster.name} --enable-oidc-issuer "
            "--enable-workload-identity` where kubectl reaches the cluster, then send the request again")
    if not profile.workload_identity.enable_on_cluster:
        raise PermanentError(
            "ClusterWorkloadIdentityDisabled",
            f"profile {profile.name!r} uses workload identity but the AKS cluster has {missing} turned off. Run "
            f"`az aks update -g {cluster.resource_group} -n {cluster.name} --enable-oidc-issuer "
            "--enable-workload-identity` and send the request again, or set workloadIdentity.enableOnCluster: "
            "true in the profile to let the service do it")
    return False


def _upgrade(cluster: ClusterRef) -> str:
    if cluster.kind == "aks":
        return f"az aks upgrade -g {cluster.resource_group} -n {cluster.name} --kubernetes-version <version>"
    return "upgrade Kubernetes on the Arc cluster with its distribution's tooling"
