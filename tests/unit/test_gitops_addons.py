"""gitops.addons and gitops.workload: what GitOps Bridge's and the AKS sample's ApplicationSets read on the cluster
Secret, validated with the file and key named, and rendered as string labels (never typed by Helm)."""
from __future__ import annotations

from typing import Any

import pytest

from localazure.arm import argocd_chart
from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.gitops import SECRET_KEY, render_gitops, tpl_escape
from shared.bootstrap.profiles import ProfileError, parse_profile
from shared.errors import PermanentError, RequestRejected

ROOT = {"repoURL": "https://dev.azure.com/contoso/platform/_git/fleet", "path": "clusters/{{cluster.name}}"}
ADDONS = {"path": "bootstrap/control-plane/addons", "enable": {"cert_manager": {}}}
CLUSTER = parse_cluster_id("/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg-apps/providers/"
                           "Microsoft.ContainerService/managedClusters/aks-01")
FACTS = ClusterFacts("Succeeded", "westeurope", True, 3, None, False, tags={"environment": "prod"}, tenant_id="t-1",
                     kubelet_client_id="kubelet-1")


def parse(**gitops: Any) -> Any:
    return parse_profile("p", {"gitops": {"root": ROOT, **gitops}}, source="profiles/p.yaml")


def secret_of(profile: Any, facts: ClusterFacts = FACTS, client_id: str | None = "client-1") -> dict[str, Any]:
    rendered = render_gitops(profile.gitops, CLUSTER, facts, client_id, None, "argocd")
    [secret] = argocd_chart.extra_objects({"extraObjects": [rendered.base[SECRET_KEY]]})
    return secret


@pytest.mark.parametrize(("gitops", "key", "fix"), [
    ({"addons": {**ADDONS, "enable": {"cert-manager": {}}}}, "gitops.addons.enable.cert-manager", "lower-case"),
    ({"addons": {**ADDONS, "enable": {"CertManager": {}}}}, "gitops.addons.enable.CertManager", "cert_manager"),
    ({"addons": {**ADDONS, "enable": {"a" * 50: {}}}}, f"gitops.addons.enable.{'a' * 50}", "at most 49"),
    ({"addons": {**ADDONS, "enable": {"cert_manager_": {}}}}, "gitops.addons.enable.cert_manager_", "addon name"),
    ({"addons": {**ADDONS, "enable": ["cert_manager"]}}, "gitops.addons.enable", "mapping of addon names"),
    ({"addons": {**ADDONS, "enable": {"x": {"namespace": "Cert_Manager"}}}}, "gitops.addons.enable.x.namespace",
     "not a Kubernetes namespace"),
    ({"addons": {**ADDONS, "enable": {"x": {"chartVersion": "1.2.3+build.4"}}}},
     "gitops.addons.enable.x.chartVersion", "no +build"),
    ({"addons": {**ADDONS, "enable": {"x": {"chartVersion": 1.16}}}}, "gitops.addons.enable.x.chartVersion",
     "quote it"),
    ({"addons": {**ADDONS, "enable": {"x": {"version": "1"}}}}, "gitops.addons.enable.x.version", "unknown key"),
    ({"addons": {**ADDONS, "path": "addons/{{cluster.name}}"}}, "gitops.addons.path", "takes no placeholders"),
    ({"addons": {**ADDONS, "path": "../addons"}}, "gitops.addons.path", "no .."),
    ({"addons": {**ADDONS, "basePath": "gitops"}}, "gitops.addons.basePath", "must end with /"),
    ({"addons": {**ADDONS, "repoURL": "http://example.com/x"}}, "gitops.addons.repoURL", "https:// URL"),
    ({"addons": {**ADDONS, "targetRevision": "main branch"}}, "gitops.addons.targetRevision", "branch, tag"),
    ({"addons": {"enable": {}}}, "gitops.addons.path", "non-empty string"),
    ({"root": {**ROOT, "path": "fleet/addons"}, "addons": {**ADDONS, "path": "addons", "basePath": "fleet/"}},
     "gitops.addons.path", "hold one another"),
    ({"root": {**ROOT, "path": "fleet"}, "addons": {**ADDONS, "path": "fleet/addons"}}, "gitops.addons.path",
     "hold one another"),
    ({"addons": ADDONS, "clusterMetadata": {"labels": {"enable_cert_manager": "yes"}}},
     "gitops.clusterMetadata.labels.enable_cert_manager", "written from gitops.addons"),
    ({"addons": {**ADDONS, "enable": {"x": {"namespace": "x"}}}, "clusterMetadata": {"annotations": {
        "x_namespace": "y"}}}, "gitops.clusterMetadata.annotations.x_namespace", "written from gitops.addons"),
    ({"clusterMetadata": {"annotations": {"akspe_identity_id": "x"}}},
     "gitops.clusterMetadata.annotations.akspe_identity_id", "written by the service"),
    ({"workload": {"path": "apps", "colour": "x"}}, "gitops.workload.colour", "unknown key"),
])
def test_a_bad_addons_or_workload_section_is_refused_naming_the_key(gitops: dict[str, Any], key: str,
                                                                     fix: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile("p", {"gitops": {"root": ROOT, **gitops}}, source="profiles/p.yaml")
    assert caught.value.key == key and caught.value.source == "profiles/p.yaml"
    assert fix in caught.value.problem, caught.value.problem


def test_addons_become_string_labels_and_annotations_in_gitops_bridges_names() -> None:
    profile = parse(addons={"path": "bootstrap/control-plane/addons", "basePath": "gitops/", "enable": {
        "cert_manager": {"namespace": "cert-manager", "chartVersion": "v1.16.2"}, "argocd": {"chartVersion": "7"},
        "kyverno": {}}},
                    workload={"repoURL": "git@github.com:contoso/apps.git", "path": "apps", "targetRevision": "v2"},
                    clusterMetadata={"labels": {"environment": "{{tags.environment}}"}})
    metadata = secret_of(profile)["metadata"]
    labels, annotations = metadata["labels"], metadata["annotations"]
    assert {k: v for k, v in labels.items() if k.startswith("enable_") or k.endswith("_chart_version")} == {
        "enable_cert_manager": "true", "enable_argocd": "true", "enable_kyverno": "true",
        "cert_manager_chart_version": "v1.16.2", "argocd_chart_version": "7"}  # strings, "7" and "true" included
    assert annotations["cert_manager_namespace"] == "cert-manager" and "kyverno_namespace" not in annotations
    assert {k: v for k, v in annotations.items() if "_repo_" in k} == {
        "addons_repo_url": ROOT["repoURL"], "addons_repo_basepath": "gitops/",
        "addons_repo_path": "bootstrap/control-plane/addons", "addons_repo_revision": "HEAD",
        "workload_repo_url": "git@github.com:contoso/apps.git", "workload_repo_basepath": "",
        "workload_repo_path": "apps", "workload_repo_revision": "v2"}
    assert labels["environment"] == annotations["environment"] == "prod"  # both ways, as GitOps Bridge writes it
    assert annotations["akspe_identity_id"] == "client-1" and annotations["kubelet_identity_client_id"] == "kubelet-1"
    assert annotations["subscription_id"] == CLUSTER.subscription and annotations["tenant_id"] == "t-1"
    assert argocd_chart.invalid_labels(secret_of(profile)) == []


def test_without_an_identity_or_kubelet_identity_those_annotations_are_absent_not_empty() -> None:
    facts = ClusterFacts("Succeeded", "westeurope", True, 3, None, False)
    annotations = secret_of(parse(addons=ADDONS), facts, None)["metadata"]["annotations"]
    assert not {"akspe_identity_id", "kubelet_identity_client_id", "tenant_id"} & annotations.keys()


def test_a_root_path_that_lands_in_the_addons_folder_for_a_cluster_fails_that_cluster() -> None:
    profile = parse(root={**ROOT, "path": "{{tags.folder}}/aks"}, addons=ADDONS)
    facts = ClusterFacts("Succeeded", "westeurope", True, 3, None, False,
                         tags={"folder": "bootstrap/control-plane/addons"})
    with pytest.raises(PermanentError) as caught:
        secret_of(profile, facts)
    assert caught.value.code == "InvalidAddonsPath" and "a folder of their own" in caught.value.message


@pytest.mark.parametrize("hostile", ['{{ lookup "v1" "Secret" "argocd" "" }}', "{{{{x}}", "a {{- /* */ -}} b",
                                     '{{"{{"}}'])
def test_a_tag_value_holding_a_template_reaches_the_cluster_as_text(hostile: str) -> None:
    """The chart runs `tpl` on the Secret's string: a tag value must come out as written, never evaluated."""
    facts = ClusterFacts("Succeeded", "westeurope", True, 3, None, False, tags={"team": hostile})
    profile = parse(clusterMetadata={"annotations": {"team": "{{tags.team}}"}})
    assert secret_of(profile, facts)["metadata"]["annotations"]["team"] == hostile
    assert "{{" not in tpl_escape(hostile).replace('{{"{{"}}', "")


def test_a_request_adds_addons_only_where_the_profile_allows_it_and_an_empty_mapping_is_checked_too() -> None:
    allowing = parse_profile("p", {"gitops": {"root": ROOT, "addons": ADDONS}, "overridable": ["gitops.addons.enable"]},
                             source="profiles/p.yaml")
    more = allowing.with_overrides({"gitops": {"addons": {"enable": {"kyverno": {"namespace": "kyverno"}}}}})
    assert secret_of(more)["metadata"]["labels"]["enable_kyverno"] == "true"
    assert secret_of(more)["metadata"]["labels"]["enable_cert_manager"] == "true"  # the profile's stay
    with pytest.raises(ProfileError) as caught:
        allowing.with_overrides({"gitops": {"addons": {"enable": {"Kyverno": {}}}}})
    assert caught.value.key == "gitops.addons.enable.Kyverno"
    closed = parse(addons=ADDONS)
    for override in ({"gitops": {"addons": {"enable": {"kyverno": {}}}}}, {"gitops": {"addons": {"path": "x"}}},
                     {"rbac": {}}):
        with pytest.raises(RequestRejected) as refused:
            closed.with_overrides(override)
        assert refused.value.reason == "OverrideNotAllowed"
    with pytest.raises(RequestRejected):
        allowing.with_overrides({"gitops": {"addons": {"path": "elsewhere"}}})  # only enable is overridable
