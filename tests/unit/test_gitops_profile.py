"""The gitops and ui profile sections: every refusal names the file and the key; rendering is pure and checked."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localazure.arm import argocd_chart
from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.gitops import (
    ROOT_KEY,
    SECRET_KEY,
    cluster_key,
    label_value,
    protected_hash,
    render_gitops,
    repository_protected,
    ui_settings,
)
from shared.bootstrap.profiles import ProfileError, parse_profile
from shared.errors import PermanentError

ROOT = {"repoURL": "https://dev.azure.com/contoso/platform/_git/fleet", "path": "clusters/{{cluster.name}}"}
WI = {"enabled": True}
CLUSTER = parse_cluster_id("/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg-apps/providers/"
                           "Microsoft.ContainerService/managedClusters/aks_Payments-01")
FACTS = ClusterFacts("Succeeded", "westeurope", True, 3, None, False, tags={"Environment": "prod"}, tenant_id="t-1")
SECRET_URL = "https://kv-fleet.vault.azure.net/secrets/fleet-token"


def parse(gitops: Any, **rest: Any) -> Any:
    return parse_profile("p", {"gitops": gitops, **rest}, source="profiles/p.yaml")


def cluster_secret(gitops: Any) -> dict[str, Any]:
    """The cluster Secret as the chart renders its extraObjects string (tpl, then YAML)."""
    [secret] = argocd_chart.extra_objects({"extraObjects": [gitops.base[SECRET_KEY]]})
    return secret


@pytest.mark.parametrize(("gitops", "rest", "key", "fix"), [
    ({"root": {**ROOT, "repoURL": "http://git.example.com/fleet"}}, {}, "gitops.root.repoURL", "https:// URL"),
    ({"root": {**ROOT, "repoURL": "ftp://git.example.com/fleet"}}, {}, "gitops.root.repoURL", "ssh URL"),
    ({"root": {**ROOT, "repoURL": "https://user:pw@git.example.com/fleet"}}, {}, "gitops.root.repoURL",
     "credentials never go in the URL"),
    ({"root": {**ROOT, "repoURL": "https://git.example.com/{{cluster.name}}"}}, {}, "gitops.root.repoURL",
     "takes no placeholders"),
    ({"root": {**ROOT, "path": "clusters/../secrets"}}, {}, "gitops.root.path", "no .."),
    ({"root": {**ROOT, "path": "/etc"}}, {}, "gitops.root.path", "relative"),
    ({"root": {**ROOT, "path": "clusters/{{cluster.region}}"}}, {}, "gitops.root.path",
     "unknown placeholder {{cluster.region}}"),
    ({"root": {**ROOT, "path": "clusters/{{cluster.name}"}}, {}, "gitops.root.path", "unmatched"),
    ({"root": {**ROOT, "targetRevision": "main {{x}}"}}, {}, "gitops.root.targetRevision", "unknown placeholder"),
    ({"root": {**ROOT, "syncPolicy": "sometimes"}}, {}, "gitops.root.syncPolicy", "automated"),
    ({"root": {**ROOT, "colour": "blue"}}, {}, "gitops.root.colour", "unknown key"),
    ({}, {}, "gitops.root", "is required"),
    ({"root": ROOT, "repository": {"auth": "password"}}, {}, "gitops.repository.auth", "keyVault"),
    ({"root": ROOT, "repository": {"auth": "workloadIdentity"}}, {}, "gitops.repository.auth",
     "workloadIdentity.enabled: true"),
    ({"root": ROOT, "repository": {"auth": "workloadIdentity"}},
     {"workloadIdentity": {"enabled": True, "serviceAccounts": ["argocd-application-controller"]}},
     "gitops.repository.auth", "argocd-repo-server"),
    ({"root": ROOT, "repository": {"auth": "keyVault"}}, {}, "gitops.repository.keyVaultSecret",
     "needs the secret's URL"),
    ({"root": ROOT, "repository": {"auth": "keyVault", "keyVaultSecret": "https://kv.evil.example/secrets/x"}}, {},
     "gitops.repository.keyVaultSecret", "vault.azure.net"),
    ({"root": ROOT, "repository": {"auth": "keyVault",
                                   "keyVaultSecret": "https://kv-fleet.vault.azure.net.evil.example/secrets/x"}}, {},
     "gitops.repository.keyVaultSecret", "Key Vault secret URL"),
    ({"root": ROOT, "repository": {"auth": "keyVault", "keyVaultSecret": "https://kv-fleet.vault.azure.net:8443/"
                                                                         "secrets/x"}}, {},
     "gitops.repository.keyVaultSecret", "Key Vault secret URL"),
    ({"root": ROOT, "repository": {"auth": "keyVault", "keyVaultSecret": "http://kv-fleet.vault.azure.net/secrets/x"}},
     {}, "gitops.repository.keyVaultSecret", "Key Vault secret URL"),
    ({"root": ROOT, "repository": {"keyVaultSecret": SECRET_URL}}, {}, "gitops.repository.keyVaultSecret",
     "only read with auth: keyVault"),
    ({"root": ROOT, "clusterMetadata": {"labels": {"env": "{{tags.}}"}}}, {}, "gitops.clusterMetadata.labels.env",
     "does not name an Azure tag"),
    ({"root": ROOT, "clusterMetadata": {"labels": {"env": "{{cluster.owner}}"}}}, {},
     "gitops.clusterMetadata.labels.env", "unknown placeholder"),
    ({"root": ROOT, "clusterMetadata": {"labels": {"bad key!": "x"}}}, {}, "gitops.clusterMetadata.labels.bad key!",
     "not a Kubernetes label"),
    ({"root": ROOT, "clusterMetadata": {"labels": {"enabled": True}}}, {}, "gitops.clusterMetadata.labels.enabled",
     "quote true"),
    ({"root": ROOT, "clusterMetadata": {"annotations": {"tenant_id": "x"}}}, {},
     "gitops.clusterMetadata.annotations.tenant_id", "written by the service"),
    ({"root": ROOT}, {"helmValues": {"extraObjects[0]": "x"}}, "helmValues.extraObjects[0]", "rendered by the service"),
    # Compared as paths, not as text: the map itself, or a key around it, would replace what gitops renders.
    ({"root": ROOT}, {"helmValues": {"configs.repositories": "x"}}, "helmValues.configs.repositories",
     "rendered by the service"),
    ({"root": ROOT}, {"helmValues": {"configs.credentialTemplates[0]": "x"}},
     "helmValues.configs.credentialTemplates[0]", "rendered by the service"),
    ({"root": ROOT}, {"ui": {"expose": "internalLoadBalancer"}, "helmValues": {"server.service": "x"}},
     "helmValues.server.service", "rendered by the service from ui.expose"),
    ({"root": ROOT}, {"ui": {"expose": "nodePort"}}, "ui.expose", "internalLoadBalancer"),
])
def test_bad_gitops_input_is_refused_naming_the_file_and_the_key(gitops: Any, rest: Any, key: str, fix: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse(gitops, **rest)
    assert caught.value.key == key and caught.value.source == "profiles/p.yaml"
    assert fix in caught.value.problem, caught.value.problem
    assert str(caught.value).startswith(f"profiles/p.yaml: {key}: ")


def test_the_key_vault_suffix_is_the_configured_one() -> None:
    data = {"gitops": {"root": ROOT, "repository": {"auth": "keyVault",
                                                    "keyVaultSecret": "https://kv-cn.vault.azure.cn/secrets/t/v1"}}}
    with pytest.raises(ProfileError, match=r"vault\.azure\.net"):
        parse_profile("p", data, source="p.yaml")
    secret = parse_profile("p", data, source="p.yaml", vault_suffix="vault.azure.cn").gitops.repository \
        .key_vault_secret
    assert (secret.vault_url, secret.name, secret.version) == ("https://kv-cn.vault.azure.cn", "t", "v1")


def test_rendering_fills_placeholders_from_facts_and_tags_and_sanitises_labels() -> None:
    profile = parse({"root": {**ROOT, "path": "clusters/{{cluster.kind}}/{{tags.environment}}/{{cluster.name}}",
                              "targetRevision": "{{tags.environment}}", "syncPolicy": "manual"},
                     "repository": {"auth": "workloadIdentity"},
                     "clusterMetadata": {
                         "labels": {"example.com/team": "{{tags.team}}", "env": "{{tags.ENVIRONMENT}}",
                                    "region": "{{cluster.location}}", "count": "42"},
                         "annotations": {"owner": "{{cluster.resourceGroup}}/{{cluster.subscription}}"}}},
                    workloadIdentity=WI)
    gitops = render_gitops(profile.gitops, CLUSTER, FACTS, "client-1", None, "argocd")
    assert gitops.view is not None
    assert (gitops.view.path, gitops.view.target_revision) == ("clusters/aks/prod/aks_Payments-01", "prod")
    assert "syncPolicy" not in gitops.root[ROOT_KEY]
    assert "path: clusters/aks/prod/aks_Payments-01" in gitops.root[ROOT_KEY]
    assert cluster_key(CLUSTER) == "aks-payments-01"
    metadata = cluster_secret(gitops)["metadata"]
    assert metadata["name"] == "argocd-cluster-aks-payments-01"
    labels, annotations = metadata["labels"], metadata["annotations"]
    assert labels["env"] == "prod" and labels["region"] == "westeurope"
    assert labels["example.com/team"] == ""  # a missing tag: empty, which a label may be
    assert "example.com/team" not in annotations
    assert labels["count"] == "42" and "count" not in annotations  # a YAML string: no Helm typing
    assert annotations["owner"] == "rg-apps/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
    assert annotations["tenant_id"] == "t-1"
    assert annotations["workload_identity_client_id"] == annotations["akspe_identity_id"] == "client-1"
    assert not any(k.startswith(("addons_repo_", "workload_repo_")) for k in annotations)  # no gitops.addons
    assert gitops.base["configs.credentialTemplates.root.useAzureWorkloadIdentity"] == "true"
    assert gitops.protected == {}


def test_tag_values_that_would_escape_the_repository_or_reach_helm_templates_fail_the_cluster() -> None:
    profile = parse({"root": {**ROOT, "path": "clusters/{{tags.environment}}"}})
    for hostile in ("../../other-team", "{{ .Values.configs }}", ""):
        facts = ClusterFacts("Succeeded", "eastus", True, 3, None, False, tags={"environment": hostile})
        with pytest.raises(PermanentError) as caught:
            render_gitops(profile.gitops, CLUSTER, facts, None, None, "argocd")
        assert caught.value.code == "InvalidRootPath" and "Fix the cluster's tags" in caught.value.message


@pytest.mark.parametrize(("raw", "label"), [
    ("prod", "prod"), ("Payments & Cards", "Payments---Cards"), ("-x-", "x"), ("a" * 70, "a" * 63),
    ("true", "true"), ("007", "007"), ("12", "12"), ("", ""), ("é", "")])
def test_label_values(raw: str, label: str) -> None:
    assert label_value(raw) == label


def test_key_vault_secrets_become_protected_settings_shown_only_by_label() -> None:
    https = parse({"root": ROOT, "repository": {"auth": "keyVault", "keyVaultSecret": SECRET_URL}})
    ssh = parse({"root": {**ROOT, "repoURL": "git@github.com:contoso/fleet.git"},
                 "repository": {"auth": "keyVault", "keyVaultSecret": SECRET_URL}})
    [(key, value)] = repository_protected(https.gitops, "tok-1").items()
    assert key == "configs.credentialTemplates.root.password" and value.label == "<from Key Vault: fleet-token>"
    assert "tok-1" not in repr(value)
    assert list(repository_protected(ssh.gitops, "key")) == ["configs.credentialTemplates.root.sshPrivateKey"]
    rendered = render_gitops(https.gitops, CLUSTER, FACTS, None, "tok-1", "argocd")
    assert rendered.base["configs.credentialTemplates.root.username"] == "git"
    assert "tok-1" not in repr(rendered)
    one = protected_hash(CLUSTER, rendered.protected)
    assert one and "tok-1" not in one and one == protected_hash(CLUSTER, repository_protected(https.gitops, "tok-1"))
    assert one != protected_hash(CLUSTER, repository_protected(https.gitops, "tok-2"))


def test_ui_expose() -> None:
    assert ui_settings("loadBalancer") == {"server.service.type": "LoadBalancer"}
    assert ui_settings("internalLoadBalancer") == {
        "server.service.type": "LoadBalancer",
        "server.service.annotations.service\\.beta\\.kubernetes\\.io/azure-load-balancer-internal": "true"}
    assert ui_settings("none") == {"server.service.type": "ClusterIP"} and ui_settings(None) == {}


_TEXT_FIELDS = [  # (where in the profile, its key in the error): every single-line value of the gitops section
    (("root", "repoURL"), "gitops.root.repoURL"), (("root", "path"), "gitops.root.path"),
    (("root", "targetRevision"), "gitops.root.targetRevision"), (("root", "project"), "gitops.root.project"),
    (("clusterMetadata", "labels", "env"), "gitops.clusterMetadata.labels.env"),
    (("clusterMetadata", "annotations", "team"), "gitops.clusterMetadata.annotations.team"),
]
_CONTROLS = st.sampled_from(["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u202e"])


@settings(max_examples=60)
@given(field=st.sampled_from(_TEXT_FIELDS), control=_CONTROLS, at=st.sampled_from(["start", "middle", "end"]))
def test_a_control_character_in_any_gitops_value_is_refused_naming_its_key(
        field: tuple[tuple[str, ...], str], control: str, at: str) -> None:
    gitops: dict[str, Any] = {"root": {**ROOT, "targetRevision": "main", "project": "default"},
                              "clusterMetadata": {"labels": {"env": "prod"}, "annotations": {"team": "payments"}}}
    *parents, leaf = field[0]
    target = gitops
    for part in parents:
        target = target[part]
    value = target[leaf]
    target[leaf] = {"start": control + value, "middle": value[:2] + control + value[2:], "end": value + control}[at]
    with pytest.raises(ProfileError) as caught:
        parse(gitops)
    assert caught.value.key == field[1]
    assert "holds a control character" in caught.value.problem, caught.value.problem
