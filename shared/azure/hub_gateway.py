"""The ARM call a hub registration adds to `ArmGateway`: a spoke's CA from `listClusterUserCredential`.

`POST .../managedClusters/{name}/listClusterUserCredential` (in every managedClusters api-version from 2018-03-31;
../shared/reference/azure-contract/api-versions.md section 2; action `Microsoft.ContainerService/managedClusters/
listClusterUserCredential/action`, operations.md) returns kubeconfigs whose user entry may hold a token: the answer
is reduced to the cluster CA here, so no token ever leaves this method (nor reaches a log, the ledger or a setting).
"""
from __future__ import annotations

import base64
from typing import Any

from shared.azure.errors import AzureError
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.hub_registration import ca_from_kubeconfig


class HubAccess:
    """Mixed into `ArmGateway` (which provides `_resources`, `_options` and `_azure_errors`)."""

    _options: dict[str, Any]

    def _resources(self, subscription: str) -> Any:
        raise NotImplementedError

    def spoke_ca(self, spoke: ClusterRef) -> str:
        """The spoke's cluster CA (base64 PEM, kubeconfig's `certificate-authority-data`); nothing else is kept."""
        from urllib.parse import quote, urlencode

        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest
        from azure.mgmt.core.exceptions import ARMErrorFormat

        from shared.azure.arm_gateway import CLUSTER_API_VERSIONS, _azure_errors  # the gateway's own (AKS's version)

        url = f"{self._options['base_url']}{quote(spoke.id)}/listClusterUserCredential?" \
            f"{urlencode({'api-version': CLUSTER_API_VERSIONS['aks']})}"
        with _azure_errors():
            response = self._resources(spoke.subscription).send_request(HttpRequest("POST", url, json={}))
            if response.status_code != 200:
                raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        try:
            encoded = (response.json() or {}).get("kubeconfigs", [{}])[0].get("value") or ""
            kubeconfig = base64.b64decode(encoded).decode()
        except (ValueError, AttributeError, IndexError, TypeError) as exc:
            raise AzureError(200, "UnreadableAnswer", f"listClusterUserCredential of {spoke.name}: no kubeconfig") \
                from exc
        return ca_from_kubeconfig(kubeconfig, spoke)
