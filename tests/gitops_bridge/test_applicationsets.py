"""GitOps Bridge's and the AKS sample's ApplicationSets, unmodified in shape (tests/fixtures/gitops-bridge), against the
cluster Secret the local Azure's Argo CD extension holds after the service bootstrapped the cluster: an addon's
ApplicationSet selects the cluster exactly when its profile enables the addon, what they generate holds no
unresolved parameter, and the bootstrap ApplicationSet never syncs the root Application's own folder."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from localazure.arm import argocd_chart
from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.gitops import SECRET_KEY, render_gitops
from shared.bootstrap.profiles import parse_profile
from tests.e2e.helpers import RG, aks_id, arc_id, record, send_request
from tests.gitops_bridge.appsets import Unsupported, applications, selects, unresolved

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "gitops-bridge"
APPSETS = {path.stem: yaml.safe_load(path.read_text()) for path in sorted(FIXTURES.glob("*.yaml"))}
ADDONS = {stem.removeprefix("addons-") for stem in APPSETS if stem.startswith("addons-")}
TAGS = {"environment": "prod", "team": "payments", "costCenter": "4711"}


def bootstrapped_secret(az: LocalAzure, kind: str, profile: str) -> dict[str, Any]:
    """The cluster Secret the emulated extension's chart renders, once the service converged a new cluster."""
    name = f"{kind}-{profile}"
    if kind == "aks":
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, name, tags=TAGS)
        cluster_id = aks_id(name)
    else:
        az.arm.add_arc_cluster(SUBSCRIPTION, RG, name, tags=TAGS)
        cluster_id = arc_id(name)
    send_request(az, cluster_id, message_id=f"m-{name}", profile=profile, requestId=f"m-{name}")
    az.drain()
    assert record(az, cluster_id).phase == "succeeded", record(az, cluster_id).last_error_message
    ext = az.arm.extension(cluster_id, "argocd")
    assert ext is not None
    [secret] = argocd_chart.cluster_secrets(argocd_chart.values_tree(ext["properties"]["configurationSettings"]))
    return secret


@pytest.mark.parametrize(("kind", "profile", "enabled"), [
    ("aks", "gitops-bridge", {"cert_manager", "external_secrets", "metrics_server"}),
    ("arc", "gitops-bridge", {"cert_manager", "external_secrets", "metrics_server"}),
    ("aks", "aks-sample", {"argocd", "cluster_api_operator", "cert_manager"}),
])
def test_addon_applicationsets_select_the_cluster_exactly_when_its_profile_enables_the_addon(
        platform_azure: LocalAzure, kind: str, profile: str, enabled: set[str]) -> None:
    secret = bootstrapped_secret(platform_azure, kind, profile)
    annotations = secret["metadata"]["annotations"]
    for addon in sorted(ADDONS):
        apps = applications(APPSETS[f"addons-{addon}"], [secret])
        assert len(apps) == (1 if addon in enabled else 0), addon
        for app in apps:
            assert unresolved(app) == [], f"addons-{addon}"
            destination = app["spec"]["destination"]
            assert destination["name"] == secret["stringData"]["name"]
            assert destination["namespace"] == annotations.get(f"{addon}_namespace", addon)
    [bootstrap] = applications(APPSETS["bootstrap"], [secret])
    [workloads] = applications(APPSETS["workloads"], [secret])
    assert unresolved(bootstrap) == [] and unresolved(workloads) == []
    root = yaml.safe_load(argocd_chart.tpl(
        platform_azure.arm.extension(aks_id(f"{kind}-{profile}") if kind == "aks" else arc_id(f"{kind}-{profile}"),
                                     "argocd")["properties"]["configurationSettings"]["extraObjects[1]"]))
    synced = bootstrap["spec"]["source"]["path"]
    assert synced == annotations["addons_repo_basepath"] + annotations["addons_repo_path"]
    assert synced != root["spec"]["source"]["path"] and not synced.startswith(root["spec"]["source"]["path"])
    assert not root["spec"]["source"]["path"].startswith(synced)
    assert workloads["spec"]["source"]["repoURL"] == annotations["workload_repo_url"]


def test_the_aks_samples_azure_metadata_reaches_its_cluster_api_operator(platform_azure: LocalAzure) -> None:
    secret = bootstrapped_secret(platform_azure, "aks", "aks-sample")
    [app] = applications(APPSETS["addons-cluster_api_operator"], [secret])
    cluster = platform_azure.arm.cluster(aks_id("aks-aks-sample"))
    [identity] = platform_azure.arm.identities()
    patch = app["spec"]["sources"][0]["kustomize"]["patches"][0]["patch"]
    assert f"value: '{identity['properties']['clientId']}'" in patch
    assert f"value: '{cluster['identity']['tenantId']}'" in patch
    parameters = {p["name"]: p["value"] for p in app["spec"]["sources"][1]["helm"]["parameters"]}
    assert parameters == {
        "subscriptionID": SUBSCRIPTION,
        "kubeletClientID": cluster["properties"]["identityProfile"]["kubeletidentity"]["clientId"]}
    assert app["spec"]["sources"][1]["targetRevision"] == "0.18.1"
    [argocd] = applications(APPSETS["addons-argocd"], [secret])
    assert argocd["spec"]["source"]["targetRevision"] == "7.8.25"  # from the argocd_chart_version label
    assert secret["metadata"]["annotations"]["infrastructure_provider"] == "capz"


def test_a_profile_without_addons_is_selected_by_no_addon_and_leaves_the_bootstrap_unresolved(
        platform_azure: LocalAzure) -> None:
    """No addons folder, so no addons_repo_*: GitOps Bridge's bootstrap ApplicationSet, if the fleet runs it, renders
    its parameters literally (docs/integration.md says so); no addon selects the cluster."""
    platform_azure.keyvault.set_secret("kv-fleet", "fleet-token", "not-a-real-token")
    secret = bootstrapped_secret(platform_azure, "aks", "gitops-keyvault")
    assert all(applications(APPSETS[f"addons-{addon}"], [secret]) == [] for addon in ADDONS)
    [bootstrap] = applications(APPSETS["bootstrap"], [secret])
    assert "{{metadata.annotations.addons_repo_url}}" in unresolved(bootstrap)


@pytest.mark.parametrize(("selector", "labels", "selected"), [
    ({}, {}, True),
    ({"matchLabels": {"environment": "prod"}}, {"environment": "prod"}, True),
    ({"matchLabels": {"environment": "prod"}}, {"environment": "staging"}, False),
    ({"matchExpressions": [{"key": "enable_x", "operator": "In", "values": ["true"]}]}, {"enable_x": "true"}, True),
    ({"matchExpressions": [{"key": "enable_x", "operator": "In", "values": ["true"]}]}, {"enable_x": "yes"}, False),
    ({"matchExpressions": [{"key": "enable_x", "operator": "In", "values": ["true"]}]}, {"enable_x": True}, False),
    ({"matchExpressions": [{"key": "enable_x", "operator": "In", "values": ["true"]}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["in-cluster"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["in-cluster"]}]}, {"a": "in-cluster"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
    ({"matchLabels": {"e": "p"}, "matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"e": "p"}, False),
])
def test_the_selector_follows_kubernetes_label_selectors(selector: dict[str, Any], labels: dict[str, Any],
                                                          selected: bool) -> None:
    """Including the two ways an addon label failed before: `yes` and a boolean (Helm-typed) never match 'true'."""
    assert selects(selector, labels) is selected


def test_fasttemplate_leaves_unknown_parameters_and_go_templates_print_no_value() -> None:
    secret = {"metadata": {"labels": {SECRET: "cluster", "environment": "prod"}, "annotations": {}},
              "stringData": {"name": "c1", "server": "https://kubernetes.default.svc"}}
    fast = {"spec": {"generators": [{"clusters": {}}], "template": {
        "name": "{{name}}-{{ metadata.labels.environment }}", "ns": "{{metadata.annotations.missing}}"}}}
    assert applications(fast, [secret]) == [{"name": "c1-prod", "ns": "{{metadata.annotations.missing}}"}]
    go = {"spec": {"goTemplate": True, "generators": [{"clusters": {}}], "template": {
        "name": "{{ .name }}-{{index .metadata.labels \"environment\"}}", "ns": "{{.metadata.annotations.missing}}",
        "d": "{{default \"x\" .metadata.annotations.missing}}"}}}
    assert applications(go, [secret]) == [{"name": "c1-prod", "ns": "<no value>", "d": "x"}]
    with pytest.raises(Unsupported):
        applications({"spec": {"goTemplate": True, "generators": [{"clusters": {}}],
                               "template": {"x": "{{ .name | upper }}"}}}, [secret])


SECRET = "argocd.argoproj.io/secret-type"


def test_the_integration_doc_shows_the_secret_the_service_renders() -> None:
    """docs/integration.md's cluster Secret: the shipped gitops-bridge profile for AKS `aks-1` with its tags, every
    name and every value but the `<placeholders>`; and its profile example is a valid profile."""
    text = (ROOT / "docs" / "integration.md").read_text()
    section = text[text.index("### The cluster Secret GitOps Bridge reads"):]
    shown, example = (yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)[:2])
    assert parse_profile("example", example, source="docs/integration.md").gitops is not None
    path = ROOT / "profiles" / "gitops-bridge.yaml"
    profile = parse_profile("gitops-bridge", yaml.safe_load(path.read_text()), source=str(path))
    assert profile.gitops is not None
    cluster = parse_cluster_id(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/"
                               "Microsoft.ContainerService/managedClusters/aks-1")
    facts = ClusterFacts("Succeeded", "westeurope", True, 3, None, True, tenant_id="t", kubelet_client_id="k",
                         tags={"environment": "prod", "team": "payments", "costCenter": "4711"})
    gitops = render_gitops(profile.gitops, cluster, facts, "c", None, "argocd")
    [secret] = argocd_chart.extra_objects({"extraObjects": [gitops.base[SECRET_KEY]]})
    assert shown["metadata"]["labels"] == secret["metadata"]["labels"]
    rendered = secret["metadata"]["annotations"]
    assert list(shown["metadata"]["annotations"]) == list(rendered)
    assert {k: v for k, v in shown["metadata"]["annotations"].items() if not str(v).startswith("<")} == {
        k: v for k, v in rendered.items() if not str(shown["metadata"]["annotations"][k]).startswith("<")}
