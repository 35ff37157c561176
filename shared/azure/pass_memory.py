"""What a reconcile pass read from ARM, kept for its continuation when throttling interrupted it, so that the
continuation resumes at the step that was throttled instead of reading everything again.

A reconcile pass reads before it writes (providers, the cluster, the pre-flight reads, the identity and its
credentials) and ARM throttles a subscription's reads first. Without this, a 429 or a paced deferral ended the pass
and its continuation read everything again from the providers on, into the same scarce bucket: with a few reads per
second and several clusters, no pass ever got to its first write. Now the reconciler runs each pass inside
`PassMemory.pass_of`; a `RecallPolicy` (`shared.azure.recall_policy`) in every ARM client's pipeline (before the
pacer and the retries) notes the pass's successful GETs (and ARM's answers to its synchronous PUTs), and when the
pass ends throttled (`waitingOn: throttled`), waiting on the providers it registered or on the extension it started,
they are kept for the cluster (never what that wait polls: the providers, the extension). Its continuation (and
only it: an event, a request or the sweep always reads afresh) gets those answers back for the same URLs, without a
request, while they are younger than `RECALL_SECONDS`; what it had not read yet, it reads.

Why that is safe:
- only reads of the interrupted pass, and only for `RECALL_SECONDS` (60 s): a continuation of a throttled pass comes
  back after the `Retry-After` or the pacer's slot, seconds to tens of seconds later;
- a write the pass made forgets the reads it changes (the resource, what is under it, its collection), so the
  continuation reads them again before deciding anything on them;
- another cluster's extension (a hub's, which spokes' registrations PATCH) is never recalled, nor the cluster's own
  after a pass that ends waiting on it (the next poll asks ARM); when a resumed pass got the cluster's extensions
  back, the reconciler reads them again before it writes the extension (`PassReads.afresh`), and starts over if they
  changed: ownership and operations in progress are judged on ARM's answer of the moment;
- every other write a resumed pass may make on a recalled read is idempotent (a provider register, the identity,
  federated credential and role assignment PUTs): if the world changed within the bound, the write still converges
  it, and a change to the cluster raises an event whose own pass reads everything;
- the memory is per instance, in process: a crash or another instance finds nothing and reads, as before.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

RECALL_SECONDS = 60.0  # the oldest read a continuation gets back
MAX_KEPT = 1000  # clusters whose reads are kept at once (the oldest interrupted pass is dropped first)
_EXTENSIONS = "extensions"  # the path segment of cluster extensions


@dataclass
class PassReads:
    """The reads of one pass: those recalled from its interrupted predecessor, and those it made itself."""

    clock: Callable[[], float]
    recalled: dict[str, tuple[float, Any]]  # url -> (when read, the azure-core HttpResponse)
    made: dict[str, tuple[float, Any]] = field(default_factory=dict)
    holder: str = ""  # the cluster's id, lower-cased: its own extension may be recalled, another cluster's never
    keep: bool = False  # set by the reconciler when the pass ends throttled
    keep_polled: bool = True  # False when the pass ends waiting on its extension: the next poll must ask ARM
    keep_providers: bool = True  # False when the pass ends waiting on providers: their next check must ask ARM
    served: set[str] = field(default_factory=set)  # paths answered without a request

    @property
    def kept(self) -> int:
        """How many reads this pass made itself (not got back) that are kept for a continuation."""
        return sum(1 for url in self.made if path_of(url) not in self.served)

    def recall(self, url: str) -> Any | None:
        kept = self.recalled.get(url)
        if kept is None or self.clock() - kept[0] >= RECALL_SECONDS:
            return None
        self.made[url] = kept
        self.served.add(path_of(url))
        return kept[1]

    def recallable(self, url: str) -> bool:
        """Whether a GET of `url` may be answered from the kept reads: anything but another cluster's extension (a
        hub's, which spokes' registrations PATCH)."""
        return not _polled(url) or path_of(url).startswith(self.holder + "/")

    def afresh(self, collection: str) -> bool:
        """Whether a read of `collection` (a path's segment: e.g. extensions) or of one of its items was answered from
        memory; if so, those are forgotten, and the next reads of them go to ARM."""
        ends = [path for path in self.served if collection.lower() in path.rsplit("/", 2)[-2:]]
        for path in ends:
            self.served.discard(path)
            for reads in (self.recalled, self.made):
                for url in [u for u in reads if path_of(u) == path]:
                    del reads[url]
        return bool(ends)

    def note(self, url: str, response: Any) -> None:
        self.made[url] = (self.clock(), response)

    def forget(self, written: str) -> None:
        """A write to `written` (a path) changed that resource, what is under it, and its collection."""
        parent = written.rsplit("/", 1)[0]
        for reads in (self.recalled, self.made):
            for url in [u for u in reads if _changed_by(path_of(u), written, parent)]:
                del reads[url]


class PassMemory:
    """Kept reads per cluster (per instance); see the module docstring."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._kept: OrderedDict[str, dict[str, tuple[float, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def pass_of(self, holder: str, *, resume: bool) -> Iterator[PassReads]:
        """Run a pass of `holder` (a cluster id); `resume`: it continues a pass that throttling interrupted."""
        with self._lock:
            kept = self._kept.pop(holder.lower(), {})
        reads = PassReads(self._clock, kept if resume else {}, holder=holder.lower())
        token = _CURRENT.set(reads)
        try:
            yield reads
        finally:
            _CURRENT.reset(token)
            if reads.keep:
                now = self._clock()
                both = {**reads.recalled, **reads.made}  # what it got back and did not use is kept too
                fresh = {url: read for url, read in both.items() if now - read[0] < RECALL_SECONDS
                         and (reads.keep_polled or not _polled(url))
                         and (reads.keep_providers or not _provider(url))}
                with self._lock:
                    self._kept[holder.lower()] = fresh
                    while len(self._kept) > MAX_KEPT:
                        self._kept.popitem(last=False)


_CURRENT: ContextVar[PassReads | None] = ContextVar("argoboot_pass_reads", default=None)


def current_pass() -> PassReads | None:
    """The reads of the pass running in this context (None outside a pass)."""
    return _CURRENT.get()


def path_of(url: str) -> str:
    return unquote(urlsplit(url).path).rstrip("/").lower()


def _changed_by(path: str, written: str, parent: str) -> bool:
    return path in (written, parent) or path.startswith(written + "/")


def _provider(url: str) -> bool:
    """A resource provider's registration (/subscriptions/…/providers/Microsoft.X): what a providers wait polls."""
    segments = path_of(url).split("/")
    return len(segments) == 5 and segments[1] == "subscriptions" and segments[3] == "providers"


def _polled(url: str) -> bool:
    """An extension by name (…/extensions/argocd): what an extension wait polls."""
    segments = path_of(url).split("/")
    return len(segments) >= 2 and segments[-2] == _EXTENSIONS
