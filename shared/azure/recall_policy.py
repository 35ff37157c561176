"""The azure-core side of `shared.azure.pass_memory`: a pipeline policy, first in every ARM client's pipeline (before
the retries and the pacer), that answers a resumed pass's GETs from the reads its interrupted predecessor made, notes
the reads of the running pass, and forgets what the pass's writes change. Outside a pass it does nothing.
"""
from __future__ import annotations

from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import ContentDecodePolicy, HTTPPolicy

from shared.azure.errors import AzureError
from shared.azure.pacing import keeps_reads
from shared.azure.pass_memory import current_pass, path_of

_DECODE = ContentDecodePolicy()


class RecallPolicy(HTTPPolicy[Any, Any]):
    """First in every ARM client's pipeline: answers a resumed pass's GETs from its kept reads, notes the GETs of the
    pass, and forgets what the pass's writes change. Outside a pass it does nothing."""

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        reads = current_pass()
        if reads is None:
            return self.next.send(request)
        method, url = request.http_request.method.upper(), request.http_request.url
        if method in ("GET", "HEAD"):
            memorable = method == "GET" and reads.recallable(url)
            kept = reads.recall(url) if memorable else None
            if kept is not None:
                answer: PipelineResponse[Any, Any] = PipelineResponse(request.http_request, kept, request.context)
                _DECODE.on_response(request, answer)  # what the pipeline's ContentDecodePolicy does for a reply
                return answer
            response = self.next.send(request)
            if memorable and response.http_response.status_code in (200, 404):
                reads.note(url, response.http_response)
                keeps_reads(reads.kept)  # the pacer reserves no token for them if the pass is deferred
            return response
        path = path_of(url)
        written = path.rsplit("/", 1)[0] if method == "POST" else path  # a POST acts on its parent (…/register)
        try:
            response = self.next.send(request)
        except AzureError as exc:
            if exc.status != 429:  # paced or throttled: not sent, or refused; anything else: maybe done
                reads.forget(written)
                keeps_reads(reads.kept)
            raise
        except Exception:
            reads.forget(written)  # whether it went through is unknown
            keeps_reads(reads.kept)
            raise
        if response.http_response.status_code != 429:  # a throttled write changed nothing
            reads.forget(written)
        keeps_reads(reads.kept)
        return response
