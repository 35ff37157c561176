"""Profile validation (every refusal names the file, the key and the fix) and rendering the extension settings."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.bootstrap.argocd_extension import (
    ExtensionState,
    config_hash,
    legacy_installation,
    render_settings,
    settings_patch,
)
from shared.bootstrap.chart_keys import helm_path
from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.profiles import (
    DEFAULT_SERVICE_ACCOUNTS,
    ProfileCatalog,
    ProfileError,
    parse_profile,
)
from shared.errors import RequestRejected
from shared.settings import REPOSITORY_PROFILES

SSO = {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "clientId": "5e3c1c4a-8d2e-4b7a-9f11-0c6a2b7d9e10"}
FACTS = ClusterFacts("Succeeded", "eastus", True, 4, "https://issuer.example/x/", True)
REGISTRY = ("/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg/providers/"
            "Microsoft.ContainerRegistry/registries/acr1")


def parse(data: Any) -> Any:
    return parse_profile("p", data, source="profiles/p.yaml")


def test_the_repository_profiles_all_load() -> None:
    catalog = ProfileCatalog.load(REPOSITORY_PROFILES, "default")
    assert {"default", "single-node", "ha", "workload-identity"} <= set(catalog.profiles)
    assert catalog.profiles["single-node"].ha == "off"  # YAML's bare `off` is a boolean; read as the word


def test_defaults_of_an_empty_profile() -> None:
    profile = parse({})
    assert (profile.ha, profile.workload_identity.enabled, profile.sso, profile.overridable) == \
        ("auto", False, None, frozenset())
    assert profile.workload_identity.service_accounts == DEFAULT_SERVICE_ACCOUNTS


@pytest.mark.parametrize(("data", "key", "fix"), [
    ({"ha": "sometimes"}, "ha", "auto (by node count), on, off"),
    ({"colour": "blue"}, "colour", "helmValues"),
    ({"deployWithHighAvailability": False}, "deployWithHighAvailability", "use ha"),
    ({"namespaceInstall": True}, "namespaceInstall", "applicationNamespaces"),
    ({"workloadIdentity": {"enable": True}}, "workloadIdentity.enable", "workloadIdentity.enabled"),
    ({"workloadIdentity": {"enabled": "yes"}}, "workloadIdentity.enabled", "true or false"),
    ({"workloadIdentity": {"enabled": True, "serviceAccounts": []}}, "workloadIdentity.serviceAccounts",
     "argocd-repo-server"),
    ({"workloadIdentity": {"serviceAccounts": ["Argo_CD"]}}, "workloadIdentity.serviceAccounts", "DNS name"),
    ({"workloadIdentity": {"serviceAccounts": [f"sa-{i}" for i in range(20)]}}, "workloadIdentity.serviceAccounts",
     "at most 19"),
    ({"helmValues": {"config-maps.argocd-cm.data.url": "https://x/"}}, "helmValues.config-maps.argocd-cm.data.url",
     "configs.cm.url"),
    ({"helmValues": {"workloadIdentity.clientId": "x"}}, "helmValues.workloadIdentity.clientId",
     "azure.workloadIdentity.clientId"),
    ({"helmValues": {"redis-ha.enabled": "false"}}, "helmValues.redis-ha.enabled", "use ha"),
    ({"helmValues": {"configs.cm.oidc\\.config": "x"}}, "helmValues.configs.cm.oidc\\.config", "use sso"),
    ({"helmValues": {"configs.cm.admin\\\\.enabled": "false"}}, "helmValues.configs.cm.admin\\\\.enabled",
     "one backslash"),
    ({"helmValues": {"server.replicas": [1, 2]}}, "helmValues.server.replicas", "key[0]"),
    ({"sso": SSO, "url": "https://argocd.example/"}, "sso", "workloadIdentity.enabled: true"),
    ({"sso": SSO, "workloadIdentity": {"enabled": True}}, "url", "redirect URI"),
    ({"sso": {**SSO, "clientId": "my-app"}, "workloadIdentity": {"enabled": True}, "url": "https://a/"},
     "sso.clientId", "Application (client) ID"),
    ({"url": "http://argocd.example/"}, "url", "https://"),
    ({"rbac": {"policyDefault": "readonly"}}, "rbac.policyDefault", "role:readonly"),
    ({"rbac": {"policyCsv": "p, role:a, applications, get, */*, allow\nallow everyone\n"}}, "rbac.policyCsv",
     "line 2"),
    ({"containerRegistries": [REGISTRY]}, "containerRegistries", "workloadIdentity.enabled: true"),
    ({"workloadIdentity": {"enabled": True}, "containerRegistries": ["/subscriptions/6f1c2a44-0b7e-4d7e-9a55-"
                                                                     "2f3c9d1e8a01/resourceGroups/rg"]},
     "containerRegistries", "resource id"),
    ({"overridable": ["sso.clientId"]}, "overridable", "cannot be overridden"),
    ([1, 2], "(top level)", "mapping"),
])
def test_invalid_profiles_name_the_file_the_key_and_the_fix(data: Any, key: str, fix: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse(data)
    assert caught.value.key == key
    assert fix in caught.value.problem
    assert str(caught.value).startswith(f"profiles/p.yaml: {key}: ")


def test_a_broken_file_is_named_by_path(tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text("ha: auto\n")
    (tmp_path / "team.yaml").write_text('helmValues:\n  "configs.cm.admin\\.enabled": x\n')  # \. in "": bad YAML
    with pytest.raises(ProfileError, match=r"team\.yaml: \(YAML\): does not parse"):
        ProfileCatalog.load(tmp_path, "default")


def test_the_default_must_exist(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text("ha: auto\n")
    with pytest.raises(ProfileError, match=r"DEFAULT_PROFILE.*'default'.*known: team"):
        ProfileCatalog.load(tmp_path, "default")


def full_profile() -> Any:
    return parse({
        "ha": "auto", "url": "https://argocd.example/", "workloadIdentity": {"enabled": True},
        "sso": {**SSO, "createFederatedCredential": True},
        "rbac": {"policyDefault": "role:readonly", "policyCsv": "g, admins, role:admin\n"},
        "applicationNamespaces": ["argocd", "team-*"], "containerRegistries": [REGISTRY],
        "helmValues": {"configs.cm.admin\\.enabled": False, "server.replicas": 2, "global.domain": "argocd.example"},
        "overridable": ["rbac.policyCsv", "helmValues.server.replicas", "applicationNamespaces"]})


def test_overrides_apply_only_where_the_profile_allows() -> None:
    profile = full_profile()
    changed = profile.with_overrides({"rbac": {"policyCsv": "g, sre, role:admin\n"},
                                      "helmValues": {"server.replicas": 3}, "applicationNamespaces": ["x"]})
    assert changed.rbac.policy_csv == "g, sre, role:admin\n" and changed.rbac.policy_default == "role:readonly"
    assert changed.helm_values["server.replicas"] == "3" and changed.helm_values["global.domain"] == "argocd.example"
    assert changed.application_namespaces == ("x",)
    for refused in ({"rbac": {"policyDefault": "role:admin"}}, {"helmValues": {"global.domain": "evil"}},
                    {"sso": {"clientId": SSO["clientId"]}}, {"workloadIdentity": {"enabled": False}}):
        with pytest.raises(RequestRejected) as caught:
            profile.with_overrides(refused)
        assert caught.value.reason == "OverrideNotAllowed" and "overridable:" in caught.value.description


def test_catalog_turns_invalid_overrides_into_a_rejection(tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text("overridable: [ha]\n")
    catalog = ProfileCatalog.load(tmp_path, "default")
    assert catalog.resolve(None, {"ha": "off"}).ha == "off"
    with pytest.raises(RequestRejected) as caught:
        catalog.resolve(None, {"ha": "maybe"})
    assert caught.value.reason == "InvalidOverride" and caught.value.description.startswith("overrides.ha: ")


def test_rendered_settings_use_the_keys_the_extension_expects() -> None:
    rendered = render_settings(full_profile(), FACTS, "11111111-2222-3333-4444-555555555555")
    oidc = yaml.safe_load(rendered.pop("configs.cm.oidc\\.config"))
    assert rendered == {
        "configs.cm.admin\\.enabled": "false", "server.replicas": "2", "global.domain": "argocd.example",
        "redis-ha.enabled": "true", "azure.workloadIdentity.enabled": "true",
        "azure.workloadIdentity.clientId": "11111111-2222-3333-4444-555555555555",
        "azure.workloadIdentity.entraSSOClientId": SSO["clientId"], "configs.cm.url": "https://argocd.example/",
        "configs.rbac.policy\\.default": "role:readonly", "configs.rbac.policy\\.csv": "g, admins, role:admin\n",
        "configs.params.application\\.namespaces": "argocd, team-*"}
    assert all(key.count("\\") <= 1 for key in rendered)  # one backslash, never two
    assert oidc["issuer"] == f"https://login.microsoftonline.com/{SSO['tenantId']}/v2.0"
    assert oidc["azure"] == {"useWorkloadIdentity": True} and oidc["clientID"] == SSO["clientId"]
    assert oidc["requestedIDTokenClaims"] == {"groups": {"essential": True}}


def test_a_plain_profile_renders_only_redis_ha() -> None:
    small = ClusterFacts("Succeeded", "eastus", True, 2, None, False)
    assert render_settings(parse({}), small, None) == {"redis-ha.enabled": "false"}


def test_patch_holds_only_the_difference_and_removals() -> None:
    installed = {"a": "1", "b": "2", "manual": "x"}
    assert settings_patch(installed, {"a": "1", "b": "3", "c": "4"}) == {"b": "3", "c": "4", "manual": None}
    assert settings_patch(installed, dict(installed)) == {}
    assert config_hash({"a": "1", "b": "2"}) == config_hash({"b": "2", "a": "1"}) != config_hash({"a": "1"})


@pytest.mark.parametrize(("version", "settings", "legacy"), [
    ("0.0.9-preview", {}, True),
    ("1.0.0-preview", {"config-maps.argocd-cm.data.url": "x"}, False),  # Microsoft's tutorial's keys, on 1.x
    (None, {"deployWithHighAvailability": "false"}, False),  # key names never decide it
    ("1.0.0-preview", {"redis-ha.enabled": "false"}, False),
])
def test_legacy_installations_are_recognised(version: str | None, settings: dict[str, str], legacy: bool) -> None:
    ext = ExtensionState("microsoft.argocd", "Succeeded", settings, version=version)
    assert (legacy_installation(ext) is not None) is legacy


def test_chart_keys_are_compared_in_their_canonical_form() -> None:
    assert helm_path("configs.cm.oidc\\.config") == ("configs", "cm", "oidc.config")
    assert helm_path("server.env[007].name") == ("server", "env", 7, "name")
    for key, fix in (("redis-ha.enabled\n", "not a valid key"), ("redis-ha", "use ha"),
                     ("redis-ha[0]", "use ha"), ("configs.cm.url.path", "use url"),
                     ("configs.rbac.policy\\.csv", "use rbac.policyCsv"), ("config-maps.argocd-cm.data.url", "0.0.x"),
                     ("r\u0435dis-ha.enabled", "not a valid key")):  # a Cyrillic e
        with pytest.raises(ProfileError) as caught:
            parse({"helmValues": {key: "x"}})
        assert fix in caught.value.problem, key
    with pytest.raises(ProfileError, match=r"sets the same chart value as helmValues\.server\.env\[0\]"):
        parse({"helmValues": {"server.env[0]": "a", "server.env[00]": "b"}})
    with pytest.raises(ProfileError, match=r"sets the same chart value as helmValues\.server"):
        parse({"helmValues": {"server": "a", "server.replicas": 2}})


@pytest.mark.parametrize(("data", "key"), [
    ({"helmValues": {"server.replicas": "2 "}}, "helmValues.server.replicas"),
    ({"helmValues": {"server.replicas": True}}, "helmValues.server.replicas"),
    ({"helmValues": {"dex.enabled": "True"}}, "helmValues.dex.enabled"),
    ({"helmValues": {"notifications.url": "javascript:alert(1)"}}, "helmValues.notifications.url"),
    ({"helmValues": {"a.b": float("nan")}}, "helmValues.a.b"),
    ({"helmValues": {"a.b": "x\x1b[2J"}}, "helmValues.a.b"),
    ({"applicationNamespaces": ["team-a, kube-system"]}, "applicationNamespaces"),
    ({"applicationNamespaces": ["team-a\n"]}, "applicationNamespaces"),
    ({"workloadIdentity": {"enabled": True, "serviceAccounts": ["argocd-repo-server\n"]}},
     "workloadIdentity.serviceAccounts"),
    ({"rbac": {"policyCsv": "g, sre, role:admin\x00"}}, "rbac.policyCsv"),
])
def test_values_are_validated_as_their_type_and_single_line_unless_multi_line_by_nature(data: Any,
                                                                                         key: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse(data)
    assert caught.value.key == key and "\x1b" not in str(caught.value) and "\n" not in caught.value.problem


def test_typed_and_multi_line_values_that_are_right_are_kept() -> None:
    profile = parse({"helmValues": {"server.replicas": "3", "dex.enabled": False, "notifications.url":
                                    "https://hooks.example/x", "configs.cm.resource\\.customizations": "a:\n  b: c\n"},
                     "rbac": {"policyCsv": "p, role:ci, applications, sync, */*, allow\r\n\tg, sre, role:admin\n"}})
    assert dict(profile.helm_values) == {"server.replicas": "3", "dex.enabled": "false",
                                         "notifications.url": "https://hooks.example/x",
                                         "configs.cm.resource\\.customizations": "a:\n  b: c\n"}


def test_no_profile_renders_an_old_style_or_duplicate_key() -> None:
    """The 2026 documents dropped `workloadIdentity.*` (duplicates of `azure.workloadIdentity.*`) and `config-maps.*`:
    the service sends neither, for any shipped profile nor one with SSO, workload identity and every chart field."""
    from shared.bootstrap.adoption import current_key

    big = ClusterFacts("Succeeded", "eastus", True, 5, "https://issuer.example/x/", True)
    profiles = [*ProfileCatalog.load(REPOSITORY_PROFILES, "default").profiles.values(),
                parse({"workloadIdentity": {"enabled": True}, "sso": SSO, "url": "https://argocd.example.com",
                       "rbac": {"policyDefault": "role:readonly"}, "applicationNamespaces": ["argocd"]})]
    for profile in profiles:
        rendered = render_settings(profile, big, "0a1b2c3d-0000-4000-8000-000000000001")
        assert [k for k in rendered if current_key(k) is not None] == [], profile.name
        assert not [k for k in rendered if k.startswith(("workloadIdentity.", "config-maps."))], profile.name


def test_metrics_switch_renders_the_documented_keys_for_azure_managed_prometheus() -> None:
    assert render_settings(parse({"metrics": "off"}), FACTS, None) == render_settings(parse({}), FACTS, None)
    plain = render_settings(parse({"metrics": True}), FACTS, None)  # YAML's bare `on`
    assert {k: v for k, v in plain.items() if "metrics" in k} == {
        "controller.metrics.enabled": "true", "server.metrics.enabled": "true",
        "repoServer.metrics.enabled": "true", "applicationSet.metrics.enabled": "true"}
    managed = render_settings(parse({"metrics": "azureManagedPrometheus"}), FACTS, None)
    for component in ("controller", "server", "repoServer", "applicationSet"):
        assert managed[f"{component}.metrics.enabled"] == "true"
        assert managed[f"{component}.metrics.serviceMonitor.enabled"] == "true"
    assert managed["apiVersionOverrides.monitoring"] == "azmonitoring.coreos.com/v1"
    with pytest.raises(ProfileError, match="not off, on"):
        parse({"metrics": "prometheus"})
    with pytest.raises(ProfileError, match="rendered by the service from metrics"):
        parse({"metrics": "on", "helmValues": {"server.metrics.serviceMonitor.enabled": True}})
    assert parse({"helmValues": {"server.metrics.enabled": True}}).helm_values  # without the switch: a plain value


def test_adoption_migrates_old_keys_and_keeps_only_what_the_profile_does_not_set() -> None:
    from shared.bootstrap.adoption import KEPT_KEY, current_key, kept_keys, target_settings

    assert current_key("config-maps.argocd-rbac-cm.data.policy\\.csv") == "configs.rbac.policy\\.csv"
    assert current_key("workloadIdentity.clientId") == "azure.workloadIdentity.clientId"
    assert current_key("configs.cm.url") is None and current_key("config-maps.unknown-cm.data.x") is None
    installed = {"config-maps.argocd-cm.data.url": "https://old/",  # the profile sets configs.cm.url: dropped
                 "config-maps.argocd-cm.data.admin\\.enabled": "false",  # migrated
                 "workloadIdentity.enable": "true", "azure.workloadIdentity.enabled": "true",  # duplicate: dropped
                 "server.service.type": "LoadBalancer",  # the person's own: kept
                 "configs.cm": "x",  # would replace the map holding the profile's configs.cm.url: not kept
                 "odd[key": "kept as an opaque name"}
    desired = {"configs.cm.url": "https://new/", "redis-ha.enabled": "true"}
    target = target_settings(installed, desired, adopting=True)
    assert target["configs.cm.url"] == "https://new/" and target["configs.cm.admin\\.enabled"] == "false"
    assert not [k for k in target if current_key(k) is not None] and "configs.cm" not in target
    assert kept_keys(target) == sorted(["configs.cm.admin\\.enabled", "azure.workloadIdentity.enabled",
                                        "server.service.type", "odd[key"])
    # Later runs (not adopting) keep exactly what the adoption recorded, and nothing added by hand since.
    assert target_settings({**target, "by.hand": "1"}, desired, adopting=False) == target
    assert target_settings({"x": "1", KEPT_KEY: "not json"}, desired, adopting=False) == desired
