"""Cloud-init user data and the shared adapter base: per-server secrets, rendering, hostname pool,
secrets kept out of reprs and logs, partial bulk failures."""

import hashlib
import hmac
import logging

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chalicelib.adapters.providers.base import HostedProvider
from chalicelib.adapters.providers.userdata import BootOptions, pick_hostname, render, server_secret
from chalicelib.domain.fleet import VM
from chalicelib.ports import LaunchSpec, ProviderError
from tests.provider_fakes.context import MASTER_KEY, context, settings


def test_server_secret_is_hmac_of_the_name_and_unique_per_server():
    expected = hmac.new(MASTER_KEY.encode(), b"bbbscale-demo-ovh-1", hashlib.sha256).hexdigest()
    assert server_secret(MASTER_KEY, "bbbscale-demo-ovh-1") == expected
    assert server_secret(MASTER_KEY, "bbbscale-demo-ovh-2") != expected
    assert server_secret("another-key", "bbbscale-demo-ovh-1") != expected
    with pytest.raises(ProviderError, match="BBBSCALE_SERVER_SECRET_KEY"):
        server_secret("", "x")


def test_render_is_cloud_config_with_every_parameter():
    boot = BootOptions(
        domain="bbb.example.org",
        turn_servers=["turn1.example.org", "turn2.example.org"],
        turn_server="turns:turn.example.org:443?transport=tcp",  # the older form: one more host
        recording_source="nfs.example.org:/rec",
        scalelite_url="https://lb.example.org",  # still accepted, read by nothing
    )
    text = render(
        boot,
        name="bbbscale-demo-ovh-1",
        cluster="demo",
        hostname="bbbscale-demo-ovh-1.bbb.example.org",
        secret="abc123",
        turn_secret="t+s/ecret=",
    )
    document = yaml.safe_load(text)
    assert text.startswith("#cloud-config") and document["fqdn"] == "bbbscale-demo-ovh-1.bbb.example.org"
    assert document["hostname"] == "bbbscale-demo-ovh-1"
    (env,) = document["write_files"]
    assert env["path"] == "/etc/bbbscale/boot.env" and env["permissions"] == "0600"
    lines = env["content"].splitlines()
    assert "BBB_SECRET=abc123" in lines and "TURN_SECRET=t+s/ecret=" in lines
    assert "TURN_SERVERS='turn1.example.org turn2.example.org turn.example.org'" in lines
    assert "RECORDING_SOURCE=nfs.example.org:/rec" in lines
    assert not any(line.startswith(("SCALELITE_", "LETSENCRYPT_")) for line in lines)


@pytest.mark.parametrize("turn_secret", ["a:b", 'a"b', "a&b", "a b", "a\nb"])
def test_a_turn_secret_bbb_install_would_cut_or_break_is_refused(turn_secret):
    """bbb-install cuts `-c host:secret` at the first ':' and writes the secret unescaped into XML."""
    with pytest.raises(ProviderError, match="TURN secret"):
        render(
            BootOptions(),
            name="n",
            cluster="c",
            hostname="h.example.org",
            secret="s",
            turn_secret=turn_secret,
        )


def test_line_breaks_in_values_are_refused():
    with pytest.raises(ProviderError, match="recording_source"):
        render(
            BootOptions(recording_source="a\nb"), name="n", cluster="c", hostname="h.example.org", secret="s"
        )


def test_hostname_pool_hands_out_free_names_then_is_exhausted():
    boot = BootOptions(hostnames=["bbb1.example.org", "bbb2.example.org"])
    assert pick_hostname(boot, "x", {"bbb1.example.org"}) == "bbb2.example.org"
    with pytest.raises(ProviderError, match="exhausted"):
        pick_hostname(boot, "x", {"bbb1.example.org", "bbb2.example.org"})
    assert pick_hostname(BootOptions(domain="d.example"), "srv-1", set()) == "srv-1.d.example"


class RecordingProvider(HostedProvider):
    """Our own base with an in-memory cloud: records what it was asked."""

    kind = "recording"

    def __init__(self, *args, fail=(), existing=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sent, self.fail, self.existing = [], set(fail), list(existing)

    def list(self):
        return list(self.existing)

    def _create_one(self, spec):
        if spec.name in self.fail:
            raise ProviderError(f"quota exceeded for {spec.name}")
        self.sent.append(spec)
        return self.vm(f"id-{spec.name}", spec.name, "pending", spec.tags, None)

    def _describe(self, operation, target):
        return f"{operation} {getattr(target, 'name', target)} {self.user_data_note(target) if operation == 'create' else ''}"


def make(**kwargs):
    options = RecordingProvider.Options.model_validate(kwargs.pop("options", {"rate_per_second": 1000}))
    return RecordingProvider("rec", settings("static"), options, context("demo"), **kwargs)


def test_secret_only_in_user_data_never_in_reprs_or_logs(caplog):
    provider = make()
    caplog.set_level(logging.DEBUG)
    vms = provider.create([LaunchSpec(name="bbbscale-demo-rec-1")])
    secret = server_secret(MASTER_KEY, "bbbscale-demo-rec-1")
    (spec,) = provider.sent
    assert f"BBB_SECRET={secret}" in spec.user_data
    assert spec.tags == {
        "bbbscale:cluster": "demo",
        "bbbscale:provider": "rec",
        "bbbscale:hostname": "bbbscale-demo-rec-1.bbb.example.org",
    }
    assert spec.image == "bbb-3.0-prepared"
    for text in (
        repr(spec),
        repr(provider),
        repr(vms),
        caplog.text,
        " ".join(provider.calls("create", [spec])),
    ):
        assert secret not in text and MASTER_KEY not in text and "turn-secret" not in text
    assert "1/1 creations done" in caplog.text


def test_given_user_data_is_kept_as_is():
    provider = make()
    provider.create([LaunchSpec(name="bbbscale-demo-rec-1", user_data="#cloud-config\n{}\n")])
    assert provider.sent[0].user_data == "#cloud-config\n{}\n"


def test_pool_hostnames_skip_the_ones_running_vms_use():
    used = VM("rec", "i-1", "bbbscale-demo-rec-1", "running", "bbb1.example.org")
    provider = make(
        existing=[used],
        options={"boot": {"hostnames": ["bbb1.example.org", "bbb2.example.org", "bbb3.example.org"]}},
    )
    provider.create([LaunchSpec(name="bbbscale-demo-rec-2"), LaunchSpec(name="bbbscale-demo-rec-3")])
    assert sorted(vm.tags["bbbscale:hostname"] for vm in provider.sent) == [
        "bbb2.example.org",
        "bbb3.example.org",
    ]


def test_partial_failure_returns_the_created_and_records_the_failed():
    provider = make(fail={"bbbscale-demo-rec-2"})
    seen = []
    provider.report_progress(lambda done, total: seen.append((done, total)))
    vms = provider.create([LaunchSpec(name=f"bbbscale-demo-rec-{n}") for n in (1, 2, 3)])
    assert [vm.name for vm in vms] == ["bbbscale-demo-rec-1", "bbbscale-demo-rec-3"]
    assert provider.last_failures == [("bbbscale-demo-rec-2", "quota exceeded for bbbscale-demo-rec-2")]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(ProviderError, match="no VM created"):
        make(fail={"bbbscale-demo-rec-9"}).create([LaunchSpec(name="bbbscale-demo-rec-9")])


def test_missing_master_key_is_an_error_that_names_it_and_creates_nothing():
    provider = RecordingProvider(
        "rec", settings("static"), RecordingProvider.Options(), context("demo", BBBSCALE_SERVER_SECRET_KEY="")
    )
    with pytest.raises(ProviderError, match="BBBSCALE_SERVER_SECRET_KEY"):
        provider.create([LaunchSpec(name="bbbscale-demo-rec-1")])
    assert provider.sent == []


def test_owns_by_tag_or_by_name_prefix():
    provider = make()
    assert provider.owns("bbbscale-demo-rec-4")
    assert not provider.owns("bbbscale-demo-other-4") and not provider.owns("bbbscale-demox-rec-4")
    assert provider.owns("anything", {"bbbscale:cluster": "demo", "bbbscale:provider": "rec"})
    assert not provider.owns("bbbscale-demo-rec-4", {"bbbscale:cluster": "prod"})


def test_render_user_data_for_the_core():
    from types import SimpleNamespace

    from chalicelib.adapters.providers.userdata import render_user_data
    from chalicelib.config_file import parse_settings

    settings_tree = parse_settings(
        {
            "cluster": "demo",
            "providers": {
                "sim": {"kind": "static", "mode": "static"},  # any non-API kind, e.g. the simulated cloud
                "ovh": {
                    "kind": "openstack",
                    "options": {
                        "auth_url": "https://k/v3",
                        "username": "u",
                        "project_name": "p",
                        "region": "R",
                        "flavor": "f",
                    },
                },
            },
        }
    )
    ports = {"secret": {}.get, "server_secret": lambda name: server_secret(MASTER_KEY, name)}
    simulated = render_user_data(
        settings_tree, SimpleNamespace(name="bbbscale-demo-sim-1", provider="sim"), **ports
    )
    assert f"BBB_SECRET={server_secret(MASTER_KEY, 'bbbscale-demo-sim-1')}" in simulated
    assert "fqdn: bbbscale-demo-sim-1.bbb.example.org" in simulated
    # API adapters render at creation (pool, hostname tag): the core passes empty user data.
    assert (
        render_user_data(settings_tree, SimpleNamespace(name="bbbscale-demo-ovh-1", provider="ovh"), **ports)
        == ""
    )
    with pytest.raises(ProviderError, match="no provider"):
        render_user_data(settings_tree, SimpleNamespace(name="x", provider="nope"), **ports)


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    st.from_regex(r"[A-Za-z0-9+/=._~-]{1,40}", fullmatch=True),
    st.text(max_size=40).filter(str.isprintable),
)
def test_any_printable_value_survives_yaml_and_the_shell(turn_secret, recording_source):
    """Whatever a secret or path holds, the image's `source boot.env` sees exactly that value."""
    import shlex

    boot = BootOptions(turn_server="turn:t.example.org", recording_source=recording_source)
    text = render(
        boot,
        name="bbbscale-demo-x-1",
        cluster="demo",
        hostname="h.example.org",
        secret="s" * 64,
        turn_secret=turn_secret,
    )
    content = yaml.safe_load(text)["write_files"][0]["content"]
    env = dict(shlex.split(line)[0].split("=", 1) for line in content.splitlines())
    assert env["TURN_SECRET"] == turn_secret and env["RECORDING_SOURCE"] == recording_source
