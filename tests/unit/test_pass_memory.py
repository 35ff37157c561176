"""What a throttled pass's continuation gets back (shared.azure.pass_memory): only its own pass's reads, only
younger than RECALL_SECONDS, never what a write changed, never another cluster's extension (issue 28)."""
from __future__ import annotations

from shared.azure.pass_memory import RECALL_SECONDS, PassMemory

ARM = "https://management.azure.com"
CLUSTER = "/subscriptions/s/resourcegroups/rg/providers/microsoft.containerservice/managedclusters/aks-a"
HUB = "/subscriptions/s/resourcegroups/rg/providers/microsoft.containerservice/managedclusters/aks-hub"
IDENTITY = "/subscriptions/s/resourcegroups/rg/providers/microsoft.managedidentity/userassignedidentities/id-a"
CREDENTIALS = f"{IDENTITY}/federatedIdentityCredentials"
EXTENSIONS = f"{CLUSTER}/providers/Microsoft.KubernetesConfiguration/extensions"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def url(path: str) -> str:
    return f"{ARM}{path}?api-version=2025-10-01"


def throttled_pass(memory: PassMemory, reads: list[str], *, keep: bool = True, keep_polled: bool = True) -> None:
    with memory.pass_of(CLUSTER, resume=False) as pass_reads:
        for path in reads:
            pass_reads.note(url(path), f"answer of {path}")
        pass_reads.keep, pass_reads.keep_polled = keep, keep_polled


def test_a_continuation_gets_back_what_the_throttled_pass_read_and_nothing_else_does() -> None:
    clock = Clock()
    memory = PassMemory(clock)
    throttled_pass(memory, [CLUSTER, IDENTITY])
    with memory.pass_of(CLUSTER, resume=False) as fresh:  # an event, a request, the sweep: read afresh
        assert fresh.recall(url(CLUSTER)) is None
    throttled_pass(memory, [CLUSTER])
    with memory.pass_of(CLUSTER, resume=True) as resumed:
        assert resumed.recall(url(CLUSTER)) == f"answer of {CLUSTER}"
        assert resumed.recall(url(IDENTITY)) is None  # not read by the pass it resumes


def test_reads_older_than_the_bound_are_read_again() -> None:
    clock = Clock()
    memory = PassMemory(clock)
    throttled_pass(memory, [CLUSTER])
    clock.now += RECALL_SECONDS
    with memory.pass_of(CLUSTER, resume=True) as resumed:
        assert resumed.recall(url(CLUSTER)) is None


def test_a_pass_that_ended_otherwise_keeps_nothing() -> None:
    memory = PassMemory(Clock())
    throttled_pass(memory, [CLUSTER], keep=False)
    with memory.pass_of(CLUSTER, resume=True) as resumed:
        assert resumed.recall(url(CLUSTER)) is None


def test_a_write_forgets_the_resource_what_is_under_it_and_its_collection_only() -> None:
    memory = PassMemory(Clock())
    with memory.pass_of(CLUSTER, resume=False) as pass_reads:
        for path in (CLUSTER, IDENTITY, CREDENTIALS, f"{CREDENTIALS}/fic-a"):
            pass_reads.note(url(path), path)
        pass_reads.forget(f"{CREDENTIALS}/fic-b".lower())  # a credential PUT: the list goes, its sibling stays
        left = {u.split("?")[0].removeprefix(ARM) for u in pass_reads.made}
        assert left == {CLUSTER, IDENTITY, f"{CREDENTIALS}/fic-a"}
        assert pass_reads.kept == 3
        pass_reads.forget(IDENTITY.lower())  # the identity PUT: the identity and what is under it go
        assert {u.split("?")[0].removeprefix(ARM) for u in pass_reads.made} == {CLUSTER}


def test_another_clusters_extension_is_never_recalled_the_clusters_own_not_after_a_wait_on_it() -> None:
    memory = PassMemory(Clock())
    own, hubs = f"{EXTENSIONS}/argocd", f"{HUB}/providers/Microsoft.KubernetesConfiguration/extensions/argocd"
    with memory.pass_of(CLUSTER, resume=False) as pass_reads:
        assert pass_reads.recallable(url(own)) and pass_reads.recallable(url(EXTENSIONS))
        assert not pass_reads.recallable(url(hubs))
    throttled_pass(memory, [own, EXTENSIONS], keep_polled=False)  # ended waiting on the extension
    with memory.pass_of(CLUSTER, resume=True) as resumed:
        assert resumed.recall(url(own)) is None  # the next poll asks ARM
        assert resumed.recall(url(EXTENSIONS)) is not None
        assert resumed.afresh("extensions")  # recalled: read again before the extension is written
        assert resumed.recall(url(EXTENSIONS)) is None


def test_a_pass_that_ended_waiting_on_providers_keeps_its_reads_but_not_the_providers() -> None:
    memory = PassMemory(Clock())
    provider = "/subscriptions/s/providers/Microsoft.Kubernetes"
    versions = f"{provider}/locations/eastus/extensionTypes/Microsoft.ArgoCD/versions"
    with memory.pass_of(CLUSTER, resume=False) as pass_reads:
        for path in (provider, CLUSTER, versions):
            pass_reads.note(url(path), path)
        pass_reads.keep, pass_reads.keep_providers = True, False
    with memory.pass_of(CLUSTER, resume=True) as resumed:
        assert resumed.recall(url(provider)) is None  # the providers' next check asks ARM
        assert resumed.recall(url(CLUSTER)) == CLUSTER
        assert resumed.recall(url(versions)) == versions  # under a provider, not its registration
