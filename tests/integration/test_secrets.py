"""Secrets: environment first, then SSM Parameter Store (SecureString) and Secrets Manager on moto's server."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from chalicelib.secrets import SecretError, SecretSource, parameter_name, revealed
from tests.contract.motoserver import REGION, running_moto


@pytest.fixture(scope="module")
def aws():
    """SSM and Secrets Manager clients on a moto server, with one secret in each store."""
    with running_moto() as endpoint:
        ssm = boto3.client("ssm", endpoint_url=endpoint, region_name=REGION)
        secrets = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
        ssm.put_parameter(
            Name="/bbbscale/test/webhook-secret", Value="ssm-webhook-value", Type="SecureString"
        )
        secrets.create_secret(Name="bbbscale/test/slack-signing-secret", SecretString="sm-slack-value")
        yield ssm, secrets


def source(aws, environ=None, **options) -> SecretSource:
    ssm, secrets = aws
    return SecretSource(
        ssm_prefix="/bbbscale/test/",
        secrets_prefix="bbbscale/test/",
        environ=environ or {},
        ssm_client=ssm,
        secrets_client=secrets,
        **options,
    )


def test_names_map_to_parameters():
    assert (
        parameter_name("/bbbscale/prod/", "BBBSCALE_SLACK_SIGNING_SECRET")
        == "/bbbscale/prod/slack-signing-secret"
    )


def test_the_environment_comes_first(aws):
    lookup = source(aws, environ={"BBBSCALE_WEBHOOK_SECRET": "env-value"})
    assert lookup("BBBSCALE_WEBHOOK_SECRET") == "env-value"


def test_ssm_securestring_is_decrypted_and_secrets_manager_is_the_fallback(aws):
    lookup = source(aws, environ={"BBBSCALE_WEBHOOK_SECRET": ""})  # empty counts as unset
    assert lookup("BBBSCALE_WEBHOOK_SECRET") == "ssm-webhook-value"
    assert lookup("BBBSCALE_SLACK_SIGNING_SECRET") == "sm-slack-value"
    assert lookup("BBBSCALE_ROCKETCHAT_TOKEN") is None


def test_nothing_configured_means_none_without_calling_aws():
    assert SecretSource(environ={})("BBBSCALE_WEBHOOK_SECRET") is None


def test_values_are_cached_for_max_age(aws):
    ssm, _ = aws
    cached, fresh = source(aws, max_age=300), source(aws, max_age=0)
    ssm.put_parameter(Name="/bbbscale/test/scalelite-secret", Value="first", Type="SecureString")
    assert cached("BBBSCALE_SCALELITE_SECRET") == fresh("BBBSCALE_SCALELITE_SECRET") == "first"
    ssm.put_parameter(
        Name="/bbbscale/test/scalelite-secret", Value="second", Type="SecureString", Overwrite=True
    )
    assert cached("BBBSCALE_SCALELITE_SECRET") == "first"
    assert fresh("BBBSCALE_SCALELITE_SECRET") == "second"


def test_an_unreachable_store_is_one_clear_error_naming_the_parameter(aws):
    dead = boto3.client(
        "ssm",
        endpoint_url="http://127.0.0.1:9",
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    lookup = SecretSource(ssm_prefix="/bbbscale/test/", environ={}, ssm_client=dead)
    with pytest.raises(SecretError, match="/bbbscale/test/webhook-secret") as caught:
        lookup("BBBSCALE_WEBHOOK_SECRET")
    assert "ssm-webhook-value" not in str(caught.value)


def test_values_never_show_in_reprs_but_are_known_for_redaction(aws):
    lookup = source(aws)
    assert lookup("BBBSCALE_SLACK_SIGNING_SECRET") == "sm-slack-value"
    assert "sm-slack-value" not in repr(lookup)
    assert "sm-slack-value" in revealed()


def test_a_source_made_while_os_environ_was_swapped_reads_the_environment_of_each_lookup(monkeypatch):
    """Chalice swaps os.environ for a copy with the stage's variables during an invocation; a source made
    then must not keep reading that copy afterwards (a token of one stage answering for another)."""
    import os

    from chalicelib.secrets import SecretSource

    original = os.environ
    monkeypatch.delenv("BBBSCALE_SWAPPED_TOKEN", raising=False)
    os.environ = {**original, "BBBSCALE_SWAPPED_TOKEN": "from-the-stage-copy"}  # type: ignore[assignment]  # noqa: B003 - as Chalice does
    try:
        source = SecretSource()
        assert source("BBBSCALE_SWAPPED_TOKEN") == "from-the-stage-copy"
    finally:
        os.environ = original  # noqa: B003
    assert source("BBBSCALE_SWAPPED_TOKEN") is None


def test_a_miss_is_remembered_for_max_age_too(aws):
    # A secret kept in Secrets Manager was asked of SSM first at every lookup: on AWS the server-secret-key
    # of each booting server, ten SSM calls in one tick for ten servers.
    ssm, secrets = aws
    calls: list[str] = []
    ssm.meta.events.register("before-call.ssm.GetParameter", lambda **kw: calls.append("ssm"))
    cached, fresh = source(aws, max_age=300), source(aws, max_age=0)
    for _ in range(5):
        assert cached("BBBSCALE_SLACK_SIGNING_SECRET") == "sm-slack-value"  # in Secrets Manager only
    assert calls == ["ssm"]
    secrets.create_secret(Name="bbbscale/test/miss-then-made", SecretString="made")
    assert fresh("BBBSCALE_MISS_THEN_MADE") == "made"  # max_age 0: nothing remembered, misses neither
    ssm.put_parameter(Name="/bbbscale/test/late-token", Value="late", Type="SecureString")
    assert fresh("BBBSCALE_LATE_TOKEN") == "late"
