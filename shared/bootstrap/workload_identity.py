"""Who Argo CD is in Azure: the per-cluster managed identity, its federated credentials, its role assignments.

Pure decisions (names, tags, subjects); `shared.bootstrap.identity_steps` applies them through the Azure gateways.
One identity per cluster, because an identity holds at most 20 federated credentials: shared, it
would run out after six clusters.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.bootstrap.argocd_extension import RELEASE_NAMESPACE
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.identity_placement import IdentityPlacement

AUDIENCE = "api://AzureADTokenExchange"
SSO_SERVICE_ACCOUNT = "argocd-server"
MANAGED_BY_TAG = "managed-by"
MANAGED_BY = "argoboot"
CLUSTER_TAG = "argoboot-cluster"  # sha256 of the lower-cased cluster id: tag values stop at 256 characters
CLUSTER_ID_TAG = "argoboot-cluster-id"
CREDENTIAL_PREFIX = "argoboot-"
ACR_PULL_ROLE = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
#: The pull role of registries in the "RBAC Registry + ABAC Repository Permissions" mode, where AcrPull is not
#: the listed one (builtin-roles.md in the Azure contract reference; Microsoft's Argo CD extension docs, 2026).
REPOSITORY_READER_ROLE = "b93aa761-3e63-49ed-ac28-beffa264f7ac"
ABAC_MODE = "AbacRepositoryPermissions"  # a registry's properties.roleAssignmentMode with ABAC repository permissions


def pull_role(mode: str | None) -> tuple[str, str]:
    """The role id and name that lets Argo CD pull from a registry in this roleAssignmentMode (None: unknown, and
    AcrPull, the role of the default mode)."""
    if (mode or "").lower() == ABAC_MODE.lower():
        return REPOSITORY_READER_ROLE, "Container Registry Repository Reader"
    return ACR_PULL_ROLE, "AcrPull"
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9-]")


@dataclass(frozen=True)
class IdentityRef:
    """Where the cluster's identity lives: a deterministic name in a chosen resource group."""

    subscription: str
    resource_group: str
    name: str

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/{self.name}")


@dataclass(frozen=True)
class ManagedIdentity:
    """A user-assigned identity as ARM reports it."""

    id: str
    location: str
    client_id: str
    principal_id: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FederatedCredential:
    """A federated identity credential (on a managed identity, or on an Entra application through Graph)."""

    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...] = (AUDIENCE,)
    id: str | None = field(default=None, compare=False)

    def matches(self, other: FederatedCredential) -> bool:
        """Same trust: issuer, subject and audience (the name does not matter to Entra)."""
        return (self.issuer, self.subject, self.audiences) == (other.issuer, other.subject, other.audiences)


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def identity_for(cluster: ClusterRef, placement: IdentityPlacement | None = None) -> IdentityRef:
    """`argocd-<cluster name>-<8 hex of the id>`: readable, unique across groups, within 3-128 characters, in the
    group IDENTITY_RESOURCE_GROUP names for the cluster (its own group when unset)."""
    stem = _NAME_CHARS.sub("-", cluster.name)[:100].strip("-") or "cluster"
    home = (placement or IdentityPlacement()).home(cluster)
    return IdentityRef(subscription=home.subscription, resource_group=home.resource_group,
                       name=f"argocd-{stem}-{_digest(cluster.key, 8)}")


def ownership_tags(cluster: ClusterRef) -> dict[str, str]:
    """The tags that prove the service created a resource for this cluster (checked before any change), and
    the cluster's id when it fits a tag value, so the sweep can clean up after a cluster whose record is lost."""
    tags = {MANAGED_BY_TAG: MANAGED_BY, CLUSTER_TAG: cluster_digest(cluster.key), "argoboot-cluster-name": cluster.name}
    if len(cluster.id) <= 256:
        tags[CLUSTER_ID_TAG] = cluster.id
    return tags


def cluster_digest(key: str) -> str:
    return _digest(key, 64)


def owned_by_us(tags: Mapping[str, str], cluster: ClusterRef) -> bool:
    wanted = ownership_tags(cluster)
    return all(tags.get(name) == wanted[name] for name in (MANAGED_BY_TAG, CLUSTER_TAG))


def subject(service_account: str) -> str:
    return f"system:serviceaccount:{RELEASE_NAMESPACE}:{service_account}"


def desired_credentials(service_accounts: tuple[str, ...], issuer: str) -> list[FederatedCredential]:
    """One credential per service account, issuer exactly as the cluster reports it (trailing slash kept)."""
    return [FederatedCredential(name=f"{CREDENTIAL_PREFIX}{account}"[:120], issuer=issuer, subject=subject(account))
            for account in service_accounts]


def sso_credential(cluster: ClusterRef, issuer: str) -> FederatedCredential:
    """The credential the SSO application needs for this cluster's argocd-server (one per cluster on the app)."""
    return FederatedCredential(name=f"argocd-{_digest(cluster.key, 16)}", issuer=issuer,
                               subject=subject(SSO_SERVICE_ACCOUNT))


#: Argo CD's CLI signs in through a local callback (`argocd login --sso`): the app registration's public-client
#: ("mobile and desktop") redirect URI. The web one is `<url>/auth/callback`. Both from Microsoft's AKS blog of
#: 2026-04-22 (argocd-extension-with-microsoft-entra) and Argo CD's Entra ID guide.
SSO_CLI_REDIRECT = "http://localhost:8085/auth/callback"


def sso_redirects(url: str) -> tuple[list[str], list[str]]:
    """The web and public-client redirect URIs the SSO app registration needs for Argo CD at `url`."""
    return [f"{url.rstrip('/')}/auth/callback"], [SSO_CLI_REDIRECT]


def role_assignment_name(scope: str, principal_id: str, role: str) -> str:
    """A deterministic GUID, so a retried assignment is the same PUT and never a duplicate."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope.lower()}|{principal_id.lower()}|{role.lower()}"))


def role_definition_id(scope_subscription: str, role: str) -> str:
    return f"/subscriptions/{scope_subscription}/providers/Microsoft.Authorization/roleDefinitions/{role}"


# How the ledger names what the service created that has no tags of its own: a role assignment by its ARM id,
# the SSO application's credential by a `graph:` path. Written and read back only through these four.
_ROLE_ASSIGNMENTS = "/providers/Microsoft.Authorization/roleAssignments/"
_GRAPH_CREDENTIAL = "graph:/applications/{app}/federatedIdentityCredentials/{credential}"


def role_assignment_ref(scope: str, name: str) -> str:
    return f"{scope}{_ROLE_ASSIGNMENTS}{name}"


def parse_role_assignment_ref(item: str) -> tuple[str, str] | None:
    """(scope, name) of a role assignment id in any casing, or None for anything else."""
    at = item.lower().rfind(_ROLE_ASSIGNMENTS.lower())
    return None if at < 0 else (item[:at], item[at + len(_ROLE_ASSIGNMENTS):])


def graph_credential_ref(app: str, credential_id: str) -> str:
    return _GRAPH_CREDENTIAL.format(app=app, credential=credential_id)


def parse_graph_credential_ref(item: str) -> tuple[str, str] | None:
    """(application object id, credential id), or None for anything else."""
    parts = item.split("/")
    if not item.startswith("graph:/applications/") or len(parts) != 5:
        return None
    return parts[2], parts[4]
