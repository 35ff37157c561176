"""Chart keys (Helm `--set` paths) in one canonical form, so that every check compares keys the same way.

A key is the path of names and list indices it sets: `configs.cm.oidc\\.config` is (configs, cm, oidc.config),
`server.env[007].name` is (server, env, 7, name). Two keys collide when one path is a prefix of the other:
setting `configs.cm` replaces the map that holds `configs.cm.url`, and `redis-ha.enabled.x` turns a boolean into a
map. Against a key the service renders, only names count: `redis-ha[0]` would turn `redis-ha` into a list.
Used by `shared.bootstrap.profiles` (the service's own keys, two helmValues for one value) and
`shared.bootstrap.gitops_profile` (what the gitops and ui sections render).
"""
from __future__ import annotations

import re

HelmPath = tuple[str | int, ...]

#: The ConfigMaps the extension's old `config-maps.<name>.data.<key>` settings wrote, and the chart's current keys.
LEGACY_CONFIG_MAPS = {
    "argocd-cm": "configs.cm", "argocd-rbac-cm": "configs.rbac", "argocd-cmd-params-cm": "configs.params",
    "argocd-ssh-known-hosts-cm": "configs.ssh", "argocd-tls-certs-cm": "configs.tls",
    "argocd-gpg-keys-cm": "configs.gpg",
}


def helm_path(key: str) -> HelmPath:
    """A chart key in its canonical form: unescaped dots split, `\\.` is a dot inside a name, `[007]` is index 7.
    Expects a key of the grammar profiles check (`[n]` only at the end of a name)."""
    path: list[str | int] = []
    for part in re.split(r"(?<!\\)\.", key):
        name, _, index = part.partition("[")
        path.append(name.replace("\\.", "."))
        if index:
            path.append(int(index.rstrip("]")))
    return tuple(path)


def collides(a: HelmPath, b: HelmPath) -> bool:
    """Whether two keys set the same value, or one sets a value inside the other's."""
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def reaches(path: HelmPath, rendered: HelmPath) -> bool:
    """Whether a key would set, replace or nest into a key the service renders (names only: see above)."""
    return collides(tuple(p for p in path if isinstance(p, str)), rendered)


# The argo-cd chart's maps whose entries it renders into Kubernetes Secrets (argo-helm's values.yaml:
# configs.credentialTemplates.<name>, configs.repositories.<name>, configs.clusterCredentials.<name>.config), and the
# names of their entries that are credentials (Argo CD's repository and cluster Secret fields).
_SECRET_MAPS = frozenset({("configs", "credentialTemplates"), ("configs", "repositories"),
                          ("configs", "clusterCredentials")})
_CREDENTIAL_NAMES = frozenset(name.lower() for name in (
    "password", "sshPrivateKey", "tlsClientCertKey", "tlsClientCertData", "githubAppPrivateKey", "bearerToken",
    "gcpServiceAccountKey", "keyData", "certData", "clientSecret", "token"))
KEY_VAULT_ROUTE = ("put it in Key Vault and name it in the profile (gitops.repository: auth: keyVault, keyVaultSecret: "
                   "https://<vault>.vault.azure.net/secrets/<name>): the service reads it with its identity and sends "
                   "it only in configurationProtectedSettings, which Azure never returns")


def credential(path: HelmPath) -> str | None:
    """Why a chart key holds a credential (None: it does not). Such a key in plain `configurationSettings` would be
    readable by anyone who can read the extension, and would land in the ledger and the status API."""
    names = [p for p in path if isinstance(p, str)]
    if tuple(names[:2]) == ("configs", "secret"):
        return "configs.secret is the chart's argocd-secret (admin password, webhook secrets)"
    found = next((n for n in names[2:] if n.lower() in _CREDENTIAL_NAMES), None) \
        if tuple(names[:2]) in _SECRET_MAPS else None
    if found is None and names and (names[-1].lower() in _CREDENTIAL_NAMES - {"token", "certdata"}
                                    or names[-1].lower().endswith("password")):
        found = names[-1]
    return None if found is None else f"{found} is a credential"
