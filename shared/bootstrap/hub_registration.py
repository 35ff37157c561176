"""A spoke's cluster Secret on its hub, and the hub extension's setting that holds every spoke's.

The Secret is the one Argo CD's declarative setup documents for AKS (argocd-2026.md section 4): `server` the spoke's
API server on 443, `config.execProviderConfig` running `argocd-k8s-auth azure` with the hub identity's workload
identity, `tlsClientConfig.caData` the spoke's CA (from the kubeconfig of `listClusterUserCredential`: the CA only,
never its token). It carries the GitOps Bridge labels and annotations the in-cluster Secret does.

Every spoke's Secret goes in ONE setting of the hub extension, `extraObjects[2]` (REGISTRATIONS_KEY): a YAML stream
of Secrets sorted by name. Why there: labels must stay strings (`enable_<addon>: "true"`), which rules out
`configs.clusterCredentials.*` under Helm's typed `--set` (issue 23); and list entries cannot have gaps (a missing
`extraObjects[n]` renders as a `null` manifest), so spokes cannot each own an index that comes and goes. Slots 0 and
1 (the hub's own Secret and root Application) are sent as empty strings (rendered as nothing) where the hub's
profile leaves them unset.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.gitops import (
    REGISTRATIONS_KEY,
    ROOT_KEY,
    SECRET_KEY,
    bridge_metadata,
    root_view,
    tpl_escape,
)
from shared.bootstrap.profiles import Profile
from shared.errors import PermanentError

SECRET_PREFIX = "argocd-spoke-"
_SEPARATOR = "\n---\n"
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*", re.ASCII)


@dataclass(frozen=True)
class Registration:
    """One spoke as its hub holds it: the Secret's name (unique on the hub) and its manifest (YAML, `{{` escaped)."""

    name: str
    manifest: str

    @property
    def size(self) -> int:
        return entry_size(self.manifest)


def entry_size(manifest: str) -> int:
    """What one registration adds to the hub's setting, in bytes (nothing for "", a removal)."""
    return len(manifest.encode()) + len(_SEPARATOR) if manifest else 0


def spoke_name(spoke: ClusterRef) -> str:
    """Argo CD's name for the spoke: its name and 8 hex of its id, unique on the hub when two spokes share a name."""
    stem = re.sub(r"[^a-z0-9-]", "-", spoke.name.lower()).strip("-")[:40].strip("-") or "spoke"
    return f"{stem}-{hashlib.sha256(spoke.key.encode()).hexdigest()[:8]}"


def ca_from_kubeconfig(kubeconfig: str, spoke: ClusterRef) -> str:
    """The cluster CA (`certificate-authority-data`, base64 of PEM) of the kubeconfig ARM returned; nothing else of it
    is kept (its user entry may hold a token). Refused when it holds no PEM certificate."""
    import yaml  # on first use: keeps cold start fast

    try:
        config = yaml.safe_load(kubeconfig)
        data = config["clusters"][0]["cluster"]["certificate-authority-data"]
        pem = base64.b64decode(data, validate=True)
    except (yaml.YAMLError, KeyError, IndexError, TypeError, binascii.Error, ValueError):
        data, pem = "", b""
    if not isinstance(data, str) or not _PEM.fullmatch(pem):
        raise PermanentError("SpokeCaUnreadable", f"the kubeconfig ARM returned for {spoke.id} "
                             "(listClusterUserCredential) holds no cluster CA certificate; check the cluster with `az "
                             f"aks get-credentials -g {spoke.resource_group} -n {spoke.name}`, then send the request "
                             "again")
    return data


def registration(spoke: ClusterRef, facts: ClusterFacts, profile: Profile, fqdn: str, ca_data: str,
                 hub_client_id: str, namespace: str) -> Registration:
    """The spoke's cluster Secret for the hub's Argo CD (in `namespace`), as a YAML string."""
    import yaml

    hub = profile.hub
    gitops = profile.gitops
    view = root_view(gitops.root, spoke, facts) if gitops is not None else None
    labels, annotations = bridge_metadata(gitops, spoke, facts, None, view)
    annotations["cluster_id"] = spoke.id
    name = spoke_name(spoke)
    config = {"execProviderConfig": {
        "command": "argocd-k8s-auth", "args": ["azure"], "apiVersion": "client.authentication.k8s.io/v1beta1",
        "env": {"AAD_ENVIRONMENT_NAME": "AzurePublicCloud", "AZURE_CLIENT_ID": hub_client_id,
                "AAD_LOGIN_METHOD": "workloadidentity"}},
        "tlsClientConfig": {"insecure": False, "caData": ca_data}}
    data = {"name": name, "server": f"https://{fqdn}:443", "config": json.dumps(config, sort_keys=True)}
    if hub is not None and hub.namespaces:
        data["namespaces"] = ",".join(hub.namespaces)  # Argo CD deploys only there (the role is namespaced too)
    manifest = yaml.safe_dump({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": f"{SECRET_PREFIX}{name}", "namespace": namespace,
                     "labels": {"argocd.argoproj.io/secret-type": "cluster", **labels}, "annotations": annotations},
        "type": "Opaque", "stringData": data}, sort_keys=False, default_flow_style=False)
    return Registration(name, tpl_escape(manifest).strip())


def parse_registrations(settings: Mapping[str, str]) -> dict[str, str]:
    """The hub's registrations by spoke name, read back from its settings (each manifest kept exactly)."""
    blob = settings.get(REGISTRATIONS_KEY) or ""
    found = {}
    for manifest in (m.strip() for m in blob.split(_SEPARATOR)):
        match = re.search(rf"^  name: {re.escape(SECRET_PREFIX)}(\S+)$", manifest, re.M)
        if match is not None:
            found[match.group(1)] = manifest
    return found


def registration_settings(installed: Mapping[str, str], registrations: Mapping[str, str]) -> dict[str, str]:
    """The hub settings that hold these registrations (sorted by name), with empty slots 0 and 1 where unset."""
    blob = _SEPARATOR.join(registrations[name] for name in sorted(registrations))
    settings = {key: "" for key in (SECRET_KEY, ROOT_KEY) if key not in installed}
    settings[REGISTRATIONS_KEY] = blob
    return settings


def kept_on_hub(installed: Mapping[str, str], desired: Mapping[str, str]) -> dict[str, str]:
    """What a hub's own reconcile keeps of the installed settings: its spokes' registrations, and the empty slots
    they need, which its profile does not render."""
    kept = {k: installed[k] for k in (SECRET_KEY, ROOT_KEY) if k not in desired and installed.get(k) == ""}
    if REGISTRATIONS_KEY in installed:
        kept[REGISTRATIONS_KEY] = installed[REGISTRATIONS_KEY]
    return kept
