"""A cluster extension's asynchronous operations, as their Azure-AsyncOperation URL reports them, and how they end:
the failures the RP reports (the messages Azure wraps Helm's errors in) and what a forced delete answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from localazure.arm.common import Json

INSTALL_FAILURE_MESSAGE = (
    "The extension operation failed with the following error:  Error: [ InnerError: [Helm installation "
    "failed : Unable to create/update Kubernetes resources for the extension : Recommendation Please check "
    "that there are no policies blocking the resource creation/update for the extension. Please refer to "
    "this URL for more details on this error: aka.ms/bing : InnerError [release argocd failed, and has been "
    "uninstalled due to atomic being set: failed pre-install: pod healthcheck failed]]] occurred while doing "
    "the operation : [Create] on the config, For general troubleshooting visit: https://aka.ms/k8s-extensions-TSG"
)


def ha_timeout_message(operation: str) -> str:
    """What a redis-ha install on too few nodes reports: Helm waits for pods that never schedule."""
    return (
        "The extension operation failed with the following error:  Error: [ InnerError: [Helm installation "
        f"failed : context deadline exceeded]] occurred while doing the operation : [{operation}] on the config, "
        "For general troubleshooting visit: https://aka.ms/k8s-extensions-TSG"
    )


class Failure(NamedTuple):
    """An ARM ErrorDetail: the code and message an operation ended with."""

    code: str
    message: str


@dataclass
class Operation:
    """An extension's async operation, as its Azure-AsyncOperation URL reports it."""

    op_id: str
    resource_id: str
    activity: str  # Creating | Updating | Deleting
    ends: float
    failure: Failure | None
    canceled: bool = False

    def status(self, now: float) -> str:
        if self.canceled:
            return "Canceled"
        if now < self.ends:
            return self.activity
        return "Failed" if self.failure else "Succeeded"

    def body(self, now: float) -> Json:
        status = self.status(now)
        error: Json | None = None
        if status == "Canceled":
            error = {
                "code": "OperationCanceled",
                "message": "The operation was canceled because the extension was deleted.",
            }
        elif status == "Failed" and self.failure:
            error = self.failure._asdict()
        return {
            "id": f"{self.resource_id}/operations/{self.op_id}",
            "name": self.op_id,
            "status": status,
            "properties": {},
            "error": error,
        }


#: What `forceDelete=true` answers: a serialised .NET HttpResponseMessage (seen on the wire).
FORCE_DELETE_BODY: Json = {
    "version": "1.1",
    "content": {"headers": []},
    "statusCode": 200,
    "reasonPhrase": "OK",
    "headers": [],
    "trailingHeaders": [],
    "requestMessage": None,
    "isSuccessStatusCode": True,
}
