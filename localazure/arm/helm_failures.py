"""How the argo-cd chart's Helm release fails in a cluster, as Azure reports it: the extension's operation ends
`Failed` with the chart's or Helm's message (HA on too few nodes, AKS Automatic's limits, an open-source Argo CD in
the namespace, values the templates cannot render, Argo CD resources before its CRDs exist)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from localazure.arm import argocd_chart
from localazure.arm.async_operations import Failure, ha_timeout_message

if TYPE_CHECKING:
    from localazure.arm.extensions import Extension


def helm_failure(extension: Extension, activity: str) -> Failure | None:
    """How the Argo CD chart's Helm release fails in this cluster, if it does."""
    if extension.extension_type.lower() != "microsoft.argocd":
        return None
    operation = "Create" if activity == "Creating" else "Update"
    return (_oss_failure(extension, operation) or _ha_failure(extension, operation) or _automatic_failure(extension)
            or _chart_failure(extension))


#: HA "needs at least four nodes": Microsoft's Argo CD extension quickstart and manage page (2026).
HA_NODES = 4


def _ha_failure(extension: Extension, operation: str) -> Failure | None:
    """Argo CD with redis-ha (the extension's default) never becomes ready on fewer than HA_NODES nodes it can run on:
    its pods tolerate no taints."""
    ha = extension.settings.get("redis-ha.enabled", "true").lower() != "false"
    if ha and extension.cluster.untainted_nodes < HA_NODES:
        return Failure("ExtensionOperationFailed", ha_timeout_message(operation))
    return None


#: Containers of the argo-cd chart and the values path of each one's `resources` (redis-ha's only with HA on).
CHART_CONTAINERS = {
    "argocd-application-controller": "controller", "argocd-server": "server", "argocd-repo-server": "repoServer",
    "argocd-applicationset-controller": "applicationSet", "argocd-notifications-controller": "notifications",
    "argocd-dex-server": "dex", "copyutil": "dex.initImage", "argocd-redis": "redis",
    "argocd-redis-secret-init": "redisSecretInit",
}
REDIS_HA_CONTAINERS = {"redis": "redis-ha.redis", "sentinel": "redis-ha.sentinel", "haproxy": "redis-ha.haproxy"}


def _automatic_failure(extension: Extension) -> Failure | None:
    """AKS Automatic's deployment safeguards (Gatekeeper) refuse containers without CPU and memory limits."""
    if extension.cluster.sku != "Automatic":
        return None
    containers = dict(CHART_CONTAINERS)
    if extension.settings.get("redis-ha.enabled", "true").lower() != "false":
        containers.update(REDIS_HA_CONTAINERS)
    for container, path in containers.items():
        if not all(extension.settings.get(f"{path}.resources.limits.{r}") for r in ("cpu", "memory")):
            return Failure("ExtensionOperationFailed", automatic_limits_message(container))
    return None


def automatic_limits_message(container: str) -> str:
    return (
        "The extension operation failed with the following error:  Error: [ InnerError: [Helm installation failed "
        ": Unable to create/update Kubernetes resources for the extension : admission webhook "
        '"validation.gatekeeper.sh" denied the request: [azurepolicy-k8sazurev2containerlimits-5a1b3c] container '
        f"<{container}> has no resource limits]] occurred while doing the operation : [Create] on the config, For "
        "general troubleshooting visit: https://aka.ms/k8s-extensions-TSG"
    )


def _oss_failure(extension: Extension, operation: str) -> Failure | None:
    """An open-source Argo CD already in the release namespace: Helm cannot change its Deployments' selectors."""
    namespace = ((extension.scope or {}).get("cluster") or {}).get("releaseNamespace")
    if not extension.cluster.oss_argocd or namespace != "argocd":
        return None
    return Failure(
        "ExtensionOperationFailed",
        "The extension operation failed with the following error:  Error: [ InnerError: [Helm installation failed : "
        'cannot patch "argocd-server" with kind Deployment: Deployment.apps "argocd-server" is invalid: '
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app.kubernetes.io/name":'
        '"argocd-server"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable && cannot patch '
        '"argocd-application-controller" with kind StatefulSet: StatefulSet.apps "argocd-application-controller" is '
        "invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
        "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
        f"forbidden]] occurred while doing the operation : [{operation}] on the config, For general troubleshooting "
        "visit: https://aka.ms/k8s-extensions-TSG",
    )


def _chart_failure(extension: Extension) -> Failure | None:
    """What the argo-cd chart's Helm release refuses: values its templates cannot render, and, while Argo CD's CRDs
    do not exist yet (the release has never succeeded: the chart installs them), a resource of those CRDs."""
    if extension.extension_type.lower() != "microsoft.argocd":
        return None
    try:
        values = argocd_chart.values_tree(extension.settings)
        for secret in argocd_chart.cluster_secrets(values):
            argocd_chart.check_labels(secret)
        argocd_chart.repository_secrets(values)
        resources = argocd_chart.custom_resources(values)
    except argocd_chart.ChartError as error:
        return Failure("ExtensionOperationFailed", f"Helm installation failed : {error}")
    if resources and not extension.released:
        return Failure("ExtensionOperationFailed", argocd_chart.crd_missing_message(resources[0], "argocd"))
    return None
