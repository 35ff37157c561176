"""The trust boundary's pure rules: where replies may go, the window message times are bounded to, chart keys that
are credentials, and resource group names compared canonically."""
from __future__ import annotations

import pytest

from shared.bootstrap.chart_keys import credential, helm_path
from shared.bootstrap.cluster_ids import canonical_group, is_resource_group
from shared.pipeline.intent import TIME_FUTURE_LIMIT, TIME_PAST_LIMIT, bounded_time
from shared.pipeline.replies import reply_refusal
from shared.settings import Settings, SettingsError

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"


def settings(**env: str) -> Settings:
    return Settings.from_env({"ALLOWED_SUBSCRIPTIONS": SUB, **env})


@pytest.mark.parametrize(("reply_to", "allowed"), [
    ("replies", True), ("REPLIES", True), ("team-a-replies", True), ("team-b-orders", False),
    ("install-requests", False), ("argoboot-work", False), ("replies/../install-requests", False), ("", False)])
def test_replies_go_only_to_the_allowed_entities(reply_to: str, allowed: bool) -> None:
    s = settings(ALLOWED_REPLY_ENTITIES="replies, team-*-replies, install-requests, argoboot-*")
    assert (reply_refusal(reply_to, s) is None) == allowed


def test_no_allowlist_means_no_replies_and_a_bad_entry_is_a_settings_error() -> None:
    assert "ALLOWED_REPLY_ENTITIES" in (reply_refusal("replies", settings()) or "")
    for bad in ("*", "a b", "rep\nlies"):
        with pytest.raises(SettingsError, match="ALLOWED_REPLY_ENTITIES"):
            settings(ALLOWED_REPLY_ENTITIES=bad)


NOW = 1.8e9


@pytest.mark.parametrize(("moment", "expected"), [
    (None, None), (NOW - 60, NOW - 60), (4922899200.0, NOW + TIME_FUTURE_LIMIT), (1e15, NOW + TIME_FUTURE_LIMIT),
    (0.0, NOW - TIME_PAST_LIMIT), (-1e300, NOW - TIME_PAST_LIMIT)])
def test_message_times_are_bounded_to_a_window_around_now(moment: float | None, expected: float | None) -> None:
    assert bounded_time(moment, NOW) == expected


@pytest.mark.parametrize(("key", "secret"), [
    ("configs.credentialTemplates.gh.password", True), ("configs.credentialTemplates.gh.url", False),
    ("configs.repositories.r.tlsClientCertKey", True), ("configs.repositories.r.tlsClientCertData", True),
    ("configs.clusterCredentials.hub.config.tlsClientConfig.keyData", True), ("configs.secret.extra.x", True),
    ("configs.credentialTemplates.gh.githubAppID", False), ("server.replicas", False),
    ("redis.existingSecret", False), ("externalRedis.password", True), ("dex.env[0].value", False)])
def test_credential_keys_of_the_chart(key: str, secret: bool) -> None:
    assert (credential(helm_path(key)) is not None) == secret


def test_resource_groups_by_azures_rule_in_one_canonical_form() -> None:
    assert is_resource_group("rg-café") and is_resource_group("rg-cafe\u0301") and is_resource_group("(x)_y.z")
    assert not is_resource_group("rg.") and not is_resource_group("rg x") and not is_resource_group("a" * 91)
    assert canonical_group("RG-CAFE\u0301") == canonical_group("rg-café") != canonical_group("rg-c\u0430fé")
    with pytest.raises(SettingsError, match="ALLOWED_RESOURCE_GROUPS"):
        settings(ALLOWED_RESOURCE_GROUPS=f"{SUB}/rg x")
    assert settings(ALLOWED_RESOURCE_GROUPS=f"{SUB}/RG-Café").allowed_resource_groups == {SUB: frozenset({"rg-café"})}
