"""The azure-core side of `shared.azure.pass_memory`: a pipeline policy, first in every ARM client's pipeline (before
the retries and the pacer), that answers a resumed pass's GETs from the reads its interrupted predecessor made, notes
the reads of the running pass, and forgets what the pass's writes change. Outside a pass it does nothing.

ARM's answer to a synchronous PUT (200 or 201 with no operation to poll and no provisioning state but Succeeded: an
identity, a federated credential, a role assignment) is the resource as it stands after the write, so it is noted as
the pass's read of that URL, fresher than the GET before it, under the same bound; what the write changes around it
(its collection) is still forgotten. An asynchronous PUT's answer (an extension `Creating`) is never noted. (A 201's
`Location` naming the resource, as the Managed Identity provider sends, is not an operation: ARM's async pattern for
PUT is `Azure-AsyncOperation`, in the resource provider contract.)
"""
from __future__ import annotations

import copy
import json
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import ContentDecodePolicy, HTTPPolicy

from shared.azure.errors import AzureError
from shared.azure.pacing import keeps_reads
from shared.azure.pass_memory import current_pass, path_of

_DECODE = ContentDecodePolicy()
_ASYNC_HEADERS = ("Azure-AsyncOperation", "Operation-Location")  # an operation to poll (ARM's async pattern for PUT)


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
            if method == "PUT" and _synchronous(response) and reads.recallable(url):
                read = copy.copy(response.http_response)
                read.status_code = 200  # what a GET of it answers (a 201 is the create's alone)
                reads.note(url, read)
        keeps_reads(reads.kept)
        return response


def _synchronous(response: PipelineResponse[Any, Any]) -> bool:
    """A PUT ARM answered with the resource as written: 200 or 201 and nothing to poll."""
    reply = response.http_response
    if reply.status_code not in (200, 201) or any(h in reply.headers for h in _ASYNC_HEADERS):
        return False
    try:
        body = json.loads(reply.text() or "null")
    except ValueError:
        return False
    properties = body.get("properties") if isinstance(body, dict) else None
    state = properties.get("provisioningState", "Succeeded") if isinstance(properties, dict) else "Succeeded"
    return isinstance(body, dict) and str(state).lower() == "succeeded"
