"""What an extension install's failure message means, where it means more than "try again".

Azure reports a failed Helm release in the extension's `errorInfo.message`. Two messages say an Argo CD that
the extension did not install is already in the namespace (open-source Argo CD installed with Helm or plain
manifests): Helm cannot adopt its resources, or cannot change their immutable selectors (Azure/AKS#5582).
Installing again fails the same way every time, so this ends the run with the migration path instead.
"""
from __future__ import annotations

import re

from shared.bootstrap.argocd_extension import RELEASE_NAMESPACE

_ALREADY_PRESENT = (
    re.compile(r"spec\.selector.*field is immutable", re.IGNORECASE | re.DOTALL),
    re.compile(r"exists and cannot be imported into the current release", re.IGNORECASE),
)


def argocd_already_present(message: str | None) -> str | None:
    """The outcome's message when the failure says another Argo CD holds the namespace, else None."""
    if not message or not any(pattern.search(message) for pattern in _ALREADY_PRESENT):
        return None
    return (f"an Argo CD that the extension did not install (open-source, with Helm or manifests) already runs in "
            f"namespace {RELEASE_NAMESPACE}, and the extension cannot take over its resources (Azure/AKS#5582); "
            "installing again would fail the same way. Migrate: export what it holds (`argocd admin export -n "
            f"{RELEASE_NAMESPACE} > argocd-backup.yaml`), remove the open-source install (`helm uninstall argocd -n "
            f"{RELEASE_NAMESPACE}`, or `kubectl delete -n {RELEASE_NAMESPACE} -f <the manifests you applied>`; keep "
            "the Application CRDs), then send the request again (the failed extension is "
            "installed afresh) and re-apply the export. Or keep the open-source install and tag the cluster "
            f"argoboot=off. Azure said: {message[:400]}")
