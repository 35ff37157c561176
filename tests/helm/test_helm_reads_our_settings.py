"""Real Helm reads what the service sends: for every settings set (each profile of profiles/ and tests/profiles/, on
a small and a large AKS cluster and on Arc, with request overrides, the gitops install and its second PATCH, hostile
tag values), Helm's values tree must equal the emulator's chart model in every path and type, and the extraObjects
strings must come out of the chart's `tpl` as the model reads them: the cluster Secret's labels strings, a tag value
holding `{{` as text."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from localazure.arm import argocd_chart
from shared.bootstrap.argocd_extension import desired_extension
from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.gitops import SECRET_KEY, render_gitops
from shared.bootstrap.profiles import Profile, parse_profile
from shared.errors import PermanentError, RequestRejected
from tests.helm.helm import ROOT, differences, render

AKS = parse_cluster_id("/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg-apps/providers/"
                       "Microsoft.ContainerService/managedClusters/aks-payments-01")
ARC = parse_cluster_id("/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg-apps/providers/"
                       "Microsoft.Kubernetes/connectedClusters/arc-store-042")
TAGS = {"environment": "prod", "team": "Payments & Cards", "costCenter": "4711"}
#: Tag values written to break a reading: a boolean, a number, commas, a backslash, template actions.
HOSTILE = {"environment": "true", "team": '{{ lookup "v1" "Secret" "argocd" "" }}, {{.Release.Name}}',
           "costCenter": "a,b\\c=d {{{x}}} {{- -}}"}
#: Request overrides each test profile allows, with values that hold commas, newlines and typed-looking text.
OVERRIDES = {
    "platform": {"rbac": {"policyCsv": "p, role:dev, applications, get, */*, allow\ng, team-a, role:dev\n"},
                 "helmValues": {"server.replicas": 3}},
    "open": {"url": "https://argocd.open.example/", "rbac": {"policyDefault": "role:readonly"},
             "helmValues": {"configs.cm.timeout\\.reconciliation": "180s", "server.extraArgs[0]": "--insecure",
                            "configs.params.server\\.enable\\.gzip": "true", "controller.replicas": 2,
                            "global.logging.level": "warn,info", "dex.enabled": False}},
    "workload-identity": {"applicationNamespaces": ["argocd", "team-a", "team-b"]},
}


def _profiles() -> list[tuple[str, Profile]]:
    """(label, profile): each profile file, and each with the request overrides it allows."""
    found = []
    for directory, suffix in ((ROOT / "profiles", "vault.azure.net"), (ROOT / "tests" / "profiles", "vault.localhost")):
        for path in sorted(Path(directory).glob("*.yaml")):
            profile = parse_profile(path.stem, yaml.safe_load(path.read_text()), source=str(path), vault_suffix=suffix)
            label = f"{'tests-' if directory.parent.name == 'tests' else ''}{path.stem}"
            found.append((label, profile))
            with contextlib.suppress(KeyError, RequestRejected):  # none written for it, or it allows none of them
                found.append((f"{label}+overrides", profile.with_overrides(OVERRIDES[path.stem])))
    return found


def _facts(kind: str, nodes: int, tags: dict[str, str]) -> ClusterFacts:
    return ClusterFacts("Succeeded", "westeurope", True, nodes, "https://issuer.example/", True, tags=tags,
                        tenant_id="72f988bf-86f1-41af-91ab-2d7cd011db47",
                        kubelet_client_id="3c2b1a0f-1e2d-4c3b-8a9f-0e1d2c3b4a59" if kind == "aks" else None)


def settings_sets() -> list[Any]:
    """(id, settings) for everything the service sends: the install, and the full settings after the PATCH."""
    sets = []
    for name, profile in _profiles():
        for kind, nodes, tags in (("aks", 1, TAGS), ("aks", 5, TAGS), ("arc", 3, TAGS), ("aks", 5, HOSTILE)):
            facts = _facts(kind, nodes, tags)
            client = "0b1f6a2e-4c3d-4e5f-8a9b-1c2d3e4f5a6b" if profile.workload_identity.enabled else None
            try:
                gitops = None if profile.gitops is None else render_gitops(
                    profile.gitops, AKS if kind == "aks" else ARC, facts, client, "repo-token", "argocd")
                spec = desired_extension(profile, facts, client, gitops)
            except PermanentError:
                continue  # e.g. ha: on with one node: nothing is sent
            where = f"{name}-{kind}-{nodes}{'-hostile' if tags is HOSTILE else ''}"
            sets.append(pytest.param(dict(spec.settings), id=f"{where}-install"))
            if spec.deferred or spec.protected:
                sent = {**spec.full_settings, **{k: p.value for k, p in spec.protected.items()}}
                sets.append(pytest.param(sent, id=f"{where}-after-patch"))
    return sets


@pytest.mark.parametrize("settings", settings_sets())
def test_helm_builds_the_values_the_emulator_models_and_renders_its_extra_objects_alike(
        settings: dict[str, str]) -> None:
    helm = render(settings)
    model = argocd_chart.values_tree(settings)
    assert list(differences(helm.values, model)) == []
    assert helm.extra_objects == argocd_chart.extra_objects(model)
    for secret in argocd_chart.cluster_secrets(helm.values):
        assert argocd_chart.invalid_labels(secret) == []


def test_every_profile_and_cluster_shape_is_covered() -> None:
    ids = [p.id for p in settings_sets()]
    assert {"gitops-bridge-aks-5-hostile-after-patch", "tests-platform+overrides-aks-5-install",
            "tests-open+overrides-arc-3-install", "tests-gitops-keyvault-aks-1-after-patch", "default-aks-1-install",
            "workload-identity+overrides-arc-3-install"} <= set(ids)


def test_through_real_tpl_the_cluster_secret_keeps_string_labels_and_a_templated_tag_as_text() -> None:
    profile = dict(_profiles())["gitops-bridge"]
    assert profile.gitops is not None
    gitops = render_gitops(profile.gitops, AKS, _facts("aks", 5, HOSTILE), "client-1", None, "argocd")
    [secret] = render({SECRET_KEY: gitops.base[SECRET_KEY]}).extra_objects
    labels, annotations = secret["metadata"]["labels"], secret["metadata"]["annotations"]
    assert labels["enable_cert_manager"] == "true" and labels["environment"] == "true"
    assert annotations["team"] == HOSTILE["team"]  # tpl printed it, it did not run it
    assert annotations["cost_center"] == HOSTILE["costCenter"]


def test_helm_types_a_label_sent_through_cluster_credentials_as_a_boolean_which_kubernetes_refuses() -> None:
    """Why the cluster Secret is not in configs.clusterCredentials: under typed --set its label "true" is a bool."""
    helm = render({"configs.clusterCredentials.c.server": "https://kubernetes.default.svc",
                   "configs.clusterCredentials.c.config.tlsClientConfig.insecure": "false",
                   "configs.clusterCredentials.c.labels.enable_cert_manager": "true"})
    [secret] = argocd_chart.cluster_secrets(helm.values)
    assert argocd_chart.invalid_labels(secret) == ["enable_cert_manager"]
    with pytest.raises(argocd_chart.ChartError, match="cannot unmarshal bool"):
        argocd_chart.check_labels(secret)


@pytest.mark.parametrize("value", ["true", "TRUE", "False", "null", "0", "007", "-007", "+3", "12", "1.5", "1e3",
                                   "9223372036854775807", "9223372036854775808", "{a,b}", "{}", "x{a}", "a,b",
                                   "back\\slash", "", "a=b", "[0]"])
def test_the_model_types_each_value_as_helm_does(value: str) -> None:
    settings = {"k": value}
    assert list(differences(render(settings).values, argocd_chart.values_tree(settings))) == []


def test_a_hub_with_registrations_reads_back_through_real_helm() -> None:
    """A hub's own settings plus its spokes' cluster Secrets (GitOps Bridge labels, hostile tags, a CA) in one
    extraObjects stream: Helm and the model agree, every Secret comes out, labels stay strings."""
    import base64
    import json

    from shared.bootstrap.argocd_extension import ExtensionState
    from shared.bootstrap.cluster_facts import ApiAccess
    from shared.bootstrap.hub import hub_spec
    from shared.bootstrap.hub_registration import registration, registration_settings

    hub_profile = parse_profile("hub", {"workloadIdentity": {"enabled": True, "serviceAccounts": [
        "argocd-application-controller", "argocd-server"]}, "hub": {"serve": True}}, source="hub.yaml")
    client = "0b1f6a2e-4c3d-4e5f-8a9b-1c2d3e4f5a6b"
    spec = desired_extension(hub_profile, _facts("aks", 5, TAGS), client)
    bridge = dict(_profiles())["gitops-bridge"]
    spokes = parse_profile("spokes", {**bridge.document, "hub": {"cluster": AKS.id}}, source="spokes.yaml")
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
    access = ApiAccess(True, True, False, "x.hcp.westeurope.azmk8s.io", None)
    found = {}
    for i, tags in enumerate((TAGS, HOSTILE)):
        spoke = parse_cluster_id(AKS.id.replace("aks-payments-01", f"spoke-{i}"))
        facts = ClusterFacts("Succeeded", "westeurope", True, 3, None, False, tags=tags, access=access)
        mine = registration(spoke, facts, spokes, "x.hcp.westeurope.azmk8s.io", ca, client, "argocd")
        found[mine.name] = mine.manifest
    installed = ExtensionState("Microsoft.ArgoCD", "Succeeded", registration_settings(spec.settings, found))
    settings = hub_spec(hub_profile, spec, installed).settings
    helm = render(settings)
    model = argocd_chart.values_tree(settings)
    assert list(differences(helm.values, model)) == []
    assert helm.extra_objects == argocd_chart.extra_objects(model)
    secrets = argocd_chart.cluster_secrets(helm.values)
    assert sorted(s["stringData"]["name"] for s in secrets) == sorted(found)
    for secret in secrets:
        assert argocd_chart.invalid_labels(secret) == []
        assert secret["metadata"]["labels"]["enable_cert_manager"] == "true"
        assert json.loads(secret["stringData"]["config"])["tlsClientConfig"]["caData"] == ca
    assert helm.values["controller"]["serviceAccount"]["annotations"]["azure.workload.identity/client-id"] == client
