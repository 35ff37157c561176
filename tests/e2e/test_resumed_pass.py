"""A pass that ARM throttles resumes where it stopped (issue 28): its continuation gets back what the pass read
(`shared.azure.pass_memory`) instead of reading it all again from the providers on.

Counted on the emulator's request log. Both tests fail on the code before issue 28, whose continuation read the
cluster, its extensions, the identity and the rest again before it got back to the throttled write."""
from __future__ import annotations

import re

from localazure.arm.subscriptions import REGISTERED
from localazure.stack import SUBSCRIPTION, LocalAzure
from tests.e2e.helpers import RG, record, send_request

IDENTITY = r"/userAssignedIdentities/[^/]+$"
EXTENSION = r"/extensions/argocd$"
RETRY_AFTER = 5  # more than ARM_PACE_MAX_SLEEP_SECONDS: the run ends waiting, a continuation follows


def _bootstrap(az: LocalAzure, name: str) -> str:
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, name)
    cluster_id = str(event["data"]["resourceUri"])
    send_request(az, cluster_id, message_id=f"wi-{name}", reply_to=None, profile="workload-identity")
    az.drain()
    assert record(az, cluster_id).phase == "succeeded"
    return cluster_id


def _between(az: LocalAzure, method: str, pattern: str) -> list[str]:
    """The requests after the throttled one up to the same request going through."""
    requests = az.arm.requests
    throttled = next(i for i, r in enumerate(requests) if r.status == 429)
    again = next(i for i, r in enumerate(requests) if i > throttled and r.method == method
                 and re.search(pattern, r.path))
    return [f"{r.method} {r.path}" for r in requests[throttled + 1:again]]


def _throttled_at_the_extension_put(az: LocalAzure, name: str) -> list[str]:
    """Bootstrap `name` with ARM throttling the extension's first PUT; the continuation's requests up to the PUT."""
    az.arm.inject(method="PUT", path_regex=EXTENSION, status=429, code="SubscriptionRequestsThrottled",
                  retry_after=RETRY_AFTER)
    _bootstrap(az, name)
    return _between(az, "PUT", EXTENSION)


def test_a_pass_throttled_at_its_first_write_resumes_at_that_write() -> None:
    with LocalAzure(provider_states=REGISTERED) as az:
        az.arm.inject(method="PUT", path_regex=IDENTITY, status=429, code="SubscriptionRequestsThrottled",
                      retry_after=RETRY_AFTER)
        _bootstrap(az, "aks-resumed-identity")
        # Everything the pass read before the identity PUT (providers, the cluster, its extensions, the versions,
        # the identity) is not read again: the continuation's first ARM request is the PUT.
        assert _between(az, "PUT", IDENTITY) == []


def test_a_pass_throttled_at_the_extension_put_reads_again_only_what_it_wrote_and_the_extensions() -> None:
    with LocalAzure(provider_states=REGISTERED) as az:
        resumed = _throttled_at_the_extension_put(az, "aks-resumed-extension")
        # Not again: the providers, the cluster, the extension versions. Again: the identity and its credentials
        # (the pass wrote them), and the cluster's extensions, read before the extension is written.
        assert not [r for r in resumed if re.search(r"/providers/[^/]+$|/managedClusters/[^/]+$|/versions$", r)], \
            resumed
        assert [r for r in resumed if r.endswith("/extensions")] != []
        assert len(resumed) <= 3, resumed


def test_the_continuation_gets_the_identity_from_arms_answer_to_its_put_not_a_read() -> None:
    with LocalAzure(provider_states=REGISTERED) as az:
        resumed = _throttled_at_the_extension_put(az, "aks-resumed-put-answer")
        # ARM answered the identity's PUT (201, synchronous) with the identity as written: the continuation uses
        # that answer (within RECALL_SECONDS); before, it read the identity again. The credential list, which the
        # credential PUTs changed, is read again, as are the extensions before the extension PUT.
        assert not [r for r in resumed if re.search(IDENTITY, r)], resumed
        assert [r for r in resumed if r.endswith("/federatedIdentityCredentials")] != [], resumed
        assert [r for r in resumed if r.endswith("/extensions")] != [], resumed
        assert az.arm.count("GET", r"/extensions/argocd$") >= 1  # the extension's own PUT answer is never used
