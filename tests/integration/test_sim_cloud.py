"""The simulated cloud: boots into BBB servers reachable over the local Scalelite, with provider faults."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import requests
from lxml import etree

from bbbsim.cloud import SimulatedCloud
from bbbsim.scalelite_http import LocalScalelite
from bbbsim.world import SimWorld
from chalicelib.adapters.scalelite.checksum import signed_query
from chalicelib.config import ConfigError, ProviderSettings
from chalicelib.config_file import parse_settings
from chalicelib.ports import LaunchSpec, Provider, ProviderContext, ProviderError

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
TAGS = {"bbbscale:cluster": "demo", "bbbscale:provider": "gandi"}


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def cloud(world: SimWorld, clock: Clock, name: str = "gandi", options: dict | None = None, **settings):
    secrets = {"IMAGE_SECRET": "image-secret-1"}
    context = ProviderContext(cluster="demo", now=clock, secret=secrets.get)
    settings.setdefault("boot_minutes", 5)
    return SimulatedCloud(name, ProviderSettings(**settings), options or {}, context, world)


def spec(n: int, **extra) -> LaunchSpec:
    return LaunchSpec(f"bbbscale-demo-gandi-{n}", user_data="#cloud-config\n", tags=TAGS, **extra)


def test_a_created_vm_boots_after_the_delay_into_an_unregistered_answering_bbb_server():
    world, clock = SimWorld(random.Random(3)), Clock()
    with LocalScalelite(world, "lb-secret") as scalelite:
        provider = cloud(world, clock, options={"bbb_secret_env": "IMAGE_SECRET"})
        assert isinstance(provider, Provider)
        vm = provider.create([spec(1)])[0]
        assert (vm.status, vm.name, vm.tags["bbbscale:cluster"]) == (
            "pending",
            "bbbscale-demo-gandi-1",
            "demo",
        )
        assert vm.address == scalelite.server_url("bbbscale-demo-gandi-1")
        clock.now = T0 + timedelta(minutes=4, seconds=59)
        assert provider.list()[0].status == "pending" and world.node(vm.name) is None
        clock.now = T0 + timedelta(minutes=5)
        world.advance(clock.now)
        assert provider.list()[0].status == "running"
        root = etree.fromstring(requests.get(vm.address, timeout=5).content)
        assert root.findtext("returncode") == "SUCCESS"
        query = signed_query("getMeetings", {}, "image-secret-1")
        assert (
            etree.fromstring(requests.get(f"{vm.address}/getMeetings?{query}", timeout=5).content).findtext(
                "messageKey"
            )
            == "noMeetings"
        )
        assert world.scalelite_servers() == []  # registering is the scaler's job


def test_the_bbb_secret_can_come_from_the_user_data():
    world, clock = SimWorld(), Clock()
    provider = cloud(world, clock, boot_minutes=0)
    vm = provider.create(
        [LaunchSpec("vm-x", user_data="#!/bin/sh\nBBB_SECRET=from-user-data-123\n", tags=TAGS)]
    )[0]
    provider.list()
    assert provider.secret_of(vm.vm_id) == "from-user-data-123" == world.node("vm-x").secret


def test_some_vms_never_become_healthy():
    world, clock = SimWorld(), Clock()
    provider = cloud(world, clock, boot_minutes=1)
    provider.fail_next_boots(1)
    sick, well = provider.create([spec(1), spec(2)])
    clock.now = T0 + timedelta(minutes=30)
    assert {vm.status for vm in provider.list()} == {"running"}
    assert world.node(sick.name).answering is False and world.node(well.name).answering is True
    always = cloud(world, clock, name="sickly", options={"never_healthy_rate": 1.0}, boot_minutes=0)
    vm = always.create([LaunchSpec("sickly-1", tags=TAGS)])[0]
    always.list()
    assert world.node(vm.name).answering is False


def test_boot_jitter_spreads_boots_within_the_jitter():
    world, clock = SimWorld(), Clock()
    provider = cloud(world, clock, options={"boot_jitter_minutes": 4, "seed": 11}, boot_minutes=2)
    provider.create([spec(n) for n in range(1, 9)])
    records = world.provider_records["gandi"]["vms"].values()
    delays = [(vm.ready_at - T0).total_seconds() / 60 for vm in records]
    assert all(2 <= d <= 6 for d in delays) and len(set(delays)) == 8


def test_api_failures_are_retryable_and_change_nothing():
    world, clock = SimWorld(), Clock()
    provider = cloud(world, clock)
    provider.fail_next_calls(2)
    for _ in range(2):
        with pytest.raises(ProviderError) as failure:
            provider.create([spec(1)])
        assert failure.value.retryable
    assert provider.list() == []
    assert len(provider.create([spec(1)])) == 1
    flaky = cloud(world, clock, name="flaky", options={"api_failure_rate": 1.0})
    with pytest.raises(ProviderError):
        flaky.list()


def test_a_timed_out_call_may_have_happened_anyway():
    world, clock = SimWorld(), Clock()
    provider = cloud(world, clock, options={"api_timeout_rate": 1.0})
    with pytest.raises(ProviderError, match="timed out") as failure:
        provider.create([spec(1)])
    assert failure.value.retryable
    assert [vm.name for vm in world.provider_records["gandi"]["vms"].values()] == ["bbbscale-demo-gandi-1"]


def test_stop_kills_meetings_still_on_the_server_and_start_boots_again():
    world, clock = SimWorld(), Clock()
    provider = cloud(world, clock, boot_minutes=0, mode="power")
    vm = provider.create([spec(1)])[0]
    provider.list()
    world.create_meeting("class", T0, participants=20, server=vm.name)
    provider.stop(vm.vm_id)
    assert world.killed_meetings == [("class", vm.name, "stopped with meetings")]
    assert provider.list()[0].status == "stopped"
    assert provider.start(vm.vm_id).status == "pending"
    assert provider.list()[0].status == "running" and world.node(vm.name) is not None
    provider.destroy(vm.vm_id)
    assert provider.list() == []
    with pytest.raises(ProviderError):
        provider.start(vm.vm_id)


def test_bad_input_is_refused_whole():
    world, clock = SimWorld(), Clock()
    provider = cloud(world, clock, quota=2)
    with pytest.raises(ProviderError, match="quota"):
        provider.create([spec(1), spec(2), spec(3)])
    provider.create([spec(1)])
    with pytest.raises(ProviderError, match="in use"):
        provider.create([spec(1)])
    assert len(provider.list()) == 1


def test_the_static_pool_is_registered_enabled_and_has_no_api():
    world, clock = SimWorld(), Clock()
    settings = {"mode": "static", "min_servers": 3, "max_servers": 3, "quota": 3}
    owned = cloud(world, clock, name="owned", **settings)
    again = cloud(world, clock, name="owned", **settings)
    assert len(world.nodes) == 3 and len(world.scalelite_servers()) == 3
    assert {(e.state, e.online) for e in world.scalelite_servers()} == {("enabled", True)}
    assert [vm.name for vm in again.list()] == [f"bbbscale-demo-owned-{n}" for n in (1, 2, 3)]
    assert world.create_meeting("class", T0, participants=25) in world.nodes
    for attempt in (
        lambda: owned.create([spec(9)]),
        lambda: owned.stop("owned-static-00001"),
        lambda: owned.start("owned-static-00001"),
        lambda: owned.destroy("owned-static-00001"),
    ):
        with pytest.raises(ProviderError, match="static pool: no API"):
            attempt()
    with LocalScalelite(world, "lb") as scalelite:  # sim:// registrations become HTTP URLs
        assert {e.url for e in world.scalelite_servers()} == {
            scalelite.server_url(vm.name) for vm in owned.list()
        }


def test_options_are_validated_by_the_configuration():
    document = {"providers": {"gandi": {"kind": "simulated", "options": {"boot_minutes": 3, "bogus": 1}}}}
    with pytest.raises(ConfigError, match="providers.gandi.options.bogus"):
        parse_settings(document)
    assert SimulatedCloud.Options.model_validate({"seed": 4, "api_failure_rate": 0.1}).seed == 4
