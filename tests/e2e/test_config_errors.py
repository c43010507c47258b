"""Configuration errors are found at load, every one named at once, exit 2 (issue 14): time zones, URLs,
missing secrets; and no built-in server-secret key for real providers."""

from __future__ import annotations

import pytest

from chalicelib.bootstrap import Wiring
from chalicelib.config import ConfigError
from chalicelib.config_file import load_settings
from chalicelib.domain.fleet import Server, ServerState
from chalicelib.service.keys import check_secrets
from tests.support.builders import T0
from tests.support.cli_runs import config_file, run_program

REAL_FLEET = """
cluster = "region"
[providers.gandi]
kind = "openstack"
mode = "create"
[providers.gandi.options]
auth_url = "https://keystone.example.net/v3"
region = "GRA11"
flavor = "b2-15"
username = "bbbscale"
project_name = "bbb"
[scalelite]
url = "https://lb.example.org/bigbluebutton/api"
[state]
backend = "memory"
"""


@pytest.mark.parametrize("command", [("plan", "--users", "10"), ("tick", "--dry-run")])
def test_an_unknown_time_zone_is_refused_at_load_by_every_command(tmp_path, command):
    bad = config_file(tmp_path, replace={'timezone = "Europe/Paris"': 'timezone = "Mars/Olympus"'})
    run_program(*command, "--config", str(bad)).assert_failed(2, "timezone: unknown time zone 'Mars/Olympus'")


@pytest.mark.parametrize(
    "url", ["ftp://lb.example.org/api", "lb.example.org/bigbluebutton/api", "http://:80/"]
)
def test_a_scalelite_url_that_is_not_one_is_refused_at_load(tmp_path, url):
    bad = config_file(tmp_path, replace={'url = "http://127.0.0.1:0/bigbluebutton/api"': f'url = "{url}"'})
    run_program("plan", "--users", "10", "--config", str(bad)).assert_failed(
        2, "scalelite.url: must be an http"
    )


def test_every_problem_is_named_at_once(tmp_path):
    bad = config_file(
        tmp_path,
        replace={
            'timezone = "Europe/Paris"': 'timezone = "Mars/Olympus"',
            "quota = 150": "quota = -150",
            'url = "http://127.0.0.1:0/bigbluebutton/api"': 'url = "ftp://x"',
        },
    )
    line = run_program("plan", "--users", "10", "--config", str(bad)).assert_failed(2)
    for field in ("timezone:", "providers.gandi.quota:", "scalelite.url:"):
        assert field in line, line


def test_missing_secrets_are_all_named_before_a_real_tick(tmp_path):
    config = tmp_path / "real.toml"
    config.write_text(REAL_FLEET)
    run_program("tick", "--config", str(config)).assert_failed(
        2, "missing secrets: BBBSCALE_SCALELITE_SECRET, BBBSCALE_SERVER_SECRET_KEY"
    )


def test_no_built_in_server_key_for_real_providers(tmp_path):
    config = tmp_path / "real.toml"
    config.write_text(REAL_FLEET)
    settings = load_settings(config)
    server = Server("bbbscale-region-gandi-1", "gandi", ServerState.BOOTING, T0, 300.0)
    with pytest.raises(ConfigError, match="BBBSCALE_SERVER_SECRET_KEY"):
        Wiring(settings, secret=lambda name: None).keys.of(server.name)
    with pytest.raises(ConfigError, match="BBBSCALE_SERVER_SECRET_KEY"):
        check_secrets(settings, lambda name: "set" if name == "BBBSCALE_SCALELITE_SECRET" else None)
    keyed = Wiring(settings, secret=lambda name: "k" * 32).keys.of(server.name)
    assert len(keyed) == 64


def test_the_simulated_fleet_keeps_a_demo_key_named_as_such():
    settings = load_settings(None)
    check_secrets(settings, lambda name: None)  # nothing needed
    server = Server("bbbscale-demo-gandi-1", "gandi", ServerState.BOOTING, T0, 300.0)
    assert Wiring(settings, secret=lambda name: None).keys.of(server.name)


def test_a_providers_credential_is_named_at_start_with_the_others(tmp_path):
    """Issue 23: a missing OS_PASSWORD was found only when the tick called the provider."""
    config = tmp_path / "real.toml"
    config.write_text(REAL_FLEET)
    run_program("tick", "--config", str(config)).assert_failed(
        2,
        "missing secrets: BBBSCALE_SCALELITE_SECRET, BBBSCALE_SERVER_SECRET_KEY, OS_PASSWORD (providers.gandi)",
    )
    run_program(
        "tick",
        "--config",
        str(config),
        env={"BBBSCALE_SCALELITE_SECRET": "s" * 20, "BBBSCALE_SERVER_SECRET_KEY": "k" * 32},
    ).assert_failed(2, "missing secrets: OS_PASSWORD (providers.gandi)")


def test_the_loader_reads_each_providers_secrets_and_a_hand_built_configuration_is_refused(tmp_path):
    """Issue 21: the start-up check reads the secret names the loader found in each provider's options
    (no adapter is resolved at check time); settings that never passed the loader cannot be checked, so
    they are refused with one line naming the provider rather than checked without its credentials."""
    from chalicelib.config import Settings

    config = tmp_path / "real.toml"
    config.write_text(REAL_FLEET)
    settings = load_settings(config)
    assert settings.providers["gandi"].secrets_needed == ("OS_PASSWORD",)
    by_hand = Settings.model_validate(settings.model_dump())
    assert by_hand.providers["gandi"].secrets_needed is None
    with pytest.raises(ConfigError, match=r"providers\.gandi: its secrets are unknown"):
        check_secrets(by_hand, lambda name: "set")
    check_secrets(settings, lambda name: "set")  # everything named is set: nothing to refuse
