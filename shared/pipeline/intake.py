"""The public request queue: other teams' requests, checked, then forwarded onto the cluster's session of the
internal work queue, where all work runs.

The public queue is the trust boundary. Other teams hold `Azure Service Bus Data Sender` on it and on nothing else,
so whatever they set (any session id, any `argoboot*` application property, any ReplyTo) arrives here and goes no
further: a request that passes validation is re-sent by the app, with a body it wrote from the parsed request, on
the session the service derives from the cluster id (so one cluster's work is serialised whatever session the sender
chose), with no property of the sender's. Only the app (and the platform team's rollout operators, if the deployment
names them) can send to the work queue, so the properties events, the sweep and continuations carry there
(`shared.pipeline.processing`) cannot be forged. The sender's message id, CorrelationId, ReplyTo and
ReplyToSessionId travel with the forwarded request for the reply.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from shared.azure.outbox import Outbox, OutgoingMessage
from shared.bootstrap.profiles import ProfileCatalog
from shared.bootstrap.scope import out_of_scope
from shared.errors import RequestRejected
from shared.log_context import add_log_ids, get_logger, log_scope
from shared.pipeline.install_request import parse_install_request
from shared.pipeline.processing import (
    REPLY_REFUSED_PROPERTY,
    SENDER_MESSAGE_ID_PROPERTY,
    SOURCE_PROPERTY,
    InboundMessage,
    Settlement,
)
from shared.pipeline.replies import Replier
from shared.settings import Settings
from shared.telemetry import span

log = get_logger("argoboot.requests")


@dataclass
class RequestIntake:
    """Validates a request from the public queue and forwards it to the work queue; refuses the rest."""

    settings: Settings
    outbox: Outbox
    replier: Replier
    profiles: ProfileCatalog

    def accept(self, msg: InboundMessage) -> Settlement:
        """Forward or refuse one message; raise only when the work queue is unreachable (a redelivery helps)."""
        correlation = msg.correlation_id or msg.message_id
        with log_scope(cluster_id=msg.session_id, request_id=msg.message_id, correlation_id=correlation), \
                span("intake", message_id=msg.message_id):
            try:
                request = parse_install_request(msg.body, message_id=msg.message_id)
                refusal = out_of_scope(request.cluster, self.settings)
                if refusal is not None:
                    raise RequestRejected(*refusal)
                if request.profile is not None or request.overrides is not None:  # refused here, not in the work
                    self.profiles.resolve(request.profile, request.overrides)
            except RequestRejected as exc:
                self.replier.reject(msg.message_id, msg.reply_to, msg.reply_to_session_id, exc)
                return Settlement(dead_letter_reason=exc.reason, dead_letter_description=exc.description)
            add_log_ids(cluster_id=request.cluster.key, request_id=request.request_id)
            dropped = sorted(str(k) for k in msg.application_properties if str(k).lower().startswith("argoboot"))
            if dropped:
                log.warning("message=%s request=%s: application properties %s are the service's own; dropped (a "
                            "request is always a request)", msg.message_id, request.request_id, ", ".join(dropped))
            session = request.cluster.session_id
            if msg.session_id != session:
                log.info("request=%s cluster=%s arrived in session %r; forwarded to the cluster's session %s",
                         request.request_id, request.cluster.key, msg.session_id, session)
            address, refused = self.replier.address(msg.message_id, msg.reply_to, msg.reply_to_session_id)
            properties: dict[str, str | int] = {SOURCE_PROPERTY: "request",
                                                SENDER_MESSAGE_ID_PROPERTY: msg.message_id or request.request_id}
            if refused is not None:
                properties[REPLY_REFUSED_PROPERTY] = refused[:1000]
            self.outbox.send(OutgoingMessage(
                queue=self.settings.work_queue_name, body=json.dumps(request.to_body()).encode(),
                message_id=forwarded_id(msg.message_id or request.request_id), session_id=session,
                correlation_id=msg.correlation_id or msg.message_id,
                reply_to=address.entity if address else None,
                reply_to_session_id=address.session_id if address else None, application_properties=properties))
            log.info("request=%s cluster=%s forwarded to the work queue", request.request_id, request.cluster.key)
            return Settlement()


def forwarded_id(sender_message_id: str) -> str:
    """The forwarded message's id: the same for a redelivered request (a duplicate, dropped), and never one of the
    service's own ids (`evt-`, `sweep-`, `cont-`), which a sender could otherwise pre-empt by duplicate detection."""
    return "req-" + hashlib.sha256(sender_message_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]
