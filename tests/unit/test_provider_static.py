"""The static owned pool: listed as running, never created, started, stopped or destroyed."""

from datetime import UTC, datetime

import pytest

from chalicelib.adapters.providers.static import StaticPool
from chalicelib.config import ConfigError
from chalicelib.config_file import parse_settings
from chalicelib.ports import LaunchSpec, ProviderError
from tests.provider_fakes.context import context, settings

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SERVERS = [
    {"name": "bbb01", "url": "https://bbb01.example.org/bigbluebutton/api"},
    {"name": "bbb02", "url": "https://bbb02.example.org/bigbluebutton/api"},
]


def make(servers=SERVERS):
    options = StaticPool.Options.model_validate({"servers": servers})
    return StaticPool("owned", settings("static", mode="static", servers=servers), options, context())


def test_list_reports_every_server_running_at_its_configured_url():
    vms = make().list()
    assert [(vm.vm_id, vm.status, vm.address) for vm in vms] == [
        ("bbb01", "running", "https://bbb01.example.org/bigbluebutton/api"),
        ("bbb02", "running", "https://bbb02.example.org/bigbluebutton/api"),
    ]
    assert vms[0].tags["url"] == SERVERS[0]["url"] and vms[0].provider == "owned"
    assert vms[0].ips == (), "a host name is no address for a DNS record"


ELSEWHERE = [
    {"name": "bbb03", "url": "http://bbb03.example.org:8080/bbb/bigbluebutton/api/"},
    {"name": "bbb04", "url": "https://203.0.113.4:8443/bigbluebutton/api"},
    {"name": "bbb05", "url": "https://[2001:db8::5]/lb5/bigbluebutton/api"},
]


def test_a_record_keeps_the_scheme_port_and_path_as_configured():
    # what the guard matches Scalelite's servers by: a record's URL (chalicelib/service/guard.py)
    from chalicelib.domain.reconcile import reconcile

    vms = make(ELSEWHERE).list()
    records = reconcile([], {"owned": vms}, None, parse_settings(_document(ELSEWHERE)), T0)
    assert [r.url for r in sorted(records, key=lambda r: r.name)] == [
        "http://bbb03.example.org:8080/bbb/bigbluebutton/api",
        "https://203.0.113.4:8443/bigbluebutton/api",
        "https://[2001:db8::5]/lb5/bigbluebutton/api",
    ]
    assert [vm.ips for vm in vms] == [(), ("203.0.113.4",), ("2001:db8::5",)]


@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.create([LaunchSpec(name="x")]),
        lambda p: p.start("bbb01"),
        lambda p: p.stop("bbb01"),
        lambda p: p.destroy("bbb01"),
    ],
)
def test_lifecycle_calls_are_refused(call):
    with pytest.raises(ProviderError, match="static owned pool"):
        call(make())


def test_calls_are_none():
    assert make().calls("stop", ["bbb01"]) == []


def _document(servers):
    return {"providers": {"owned": {"kind": "static", "mode": "static", "options": {"servers": servers}}}}


def test_options_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"providers\.owned\.options\.servers\.1\.url"):
        parse_settings(_document([SERVERS[0], {"name": "bbb02", "url": "ftp://nope"}]))
    with pytest.raises(ConfigError, match=r"providers\.owned\.options\.servers.*appears twice"):
        parse_settings(_document([SERVERS[0], SERVERS[0]]))
    with pytest.raises(ConfigError, match=r"providers\.owned\.options\.color"):
        parse_settings({"providers": {"owned": {"kind": "static", "options": {"color": "red"}}}})
    assert parse_settings(_document(SERVERS)).providers["owned"].options["servers"][1]["name"] == "bbb02"
