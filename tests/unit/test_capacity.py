"""A server's capacity has one source, its provider's `capacity_units` in the settings; Scalelite's load
multiplier and the default figures derive from the reference server (chalicelib.domain.fleet)."""

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.adapters.state import records
from chalicelib.config import Headroom, ProviderSettings
from chalicelib.domain.fleet import (
    REFERENCE_SERVER_UNITS,
    Server,
    ServerState,
    capacity_of,
    scalelite_multiplier,
)
from tests.support.builders import server, settings


def test_capacity_is_the_providers_setting_not_the_copy_on_the_record():
    cfg = settings()
    cfg = cfg.model_copy(
        update={
            "providers": {
                **cfg.providers,
                "cheap": cfg.providers["cheap"].model_copy(update={"capacity_units": 600}),
            }
        }
    )
    written_at_300 = server("a", "cheap")
    assert written_at_300.capacity == 300.0
    assert capacity_of(written_at_300, cfg.providers) == 600.0


def test_a_provider_no_longer_configured_keeps_the_figure_its_records_were_written_with():
    gone = replace(server("a", "retired"), capacity=450.0)
    assert capacity_of(gone, settings().providers) == 450.0


def test_the_reference_server_is_the_default_capacity_and_absolute_headroom():
    assert ProviderSettings().capacity_units == REFERENCE_SERVER_UNITS == 300.0
    assert Headroom().units == REFERENCE_SERVER_UNITS


@pytest.mark.parametrize(("capacity", "multiplier"), [(300, 1.0), (600, 0.5), (150, 2.0), (900, 0.333)])
def test_scalelite_multiplier_is_one_for_the_reference_server_and_inverse_to_size(capacity, multiplier):
    assert scalelite_multiplier(capacity) == multiplier


@given(st.floats(min_value=1.0, max_value=1e6, allow_nan=False))
def test_scalelite_multiplier_is_the_rule_registered_since_the_first_version(capacity):
    assert scalelite_multiplier(capacity) == round(300.0 / capacity, 3)


def test_registration_uses_the_multiplier_of_the_capacity_configured_now():
    """A record written while `cheap` was 300 units registers at 600's multiplier, as `cheap` is now."""
    from tests.unit.test_tick_service import World

    cheap = {"kind": "simulated", "hourly_cost": 0.3, "max_servers": 10, "quota": 10, "capacity_units": 600}
    w = World(headroom={"percent": 0, "units": 600}, providers={"cheap": cheap})
    w.tick()  # one server started
    (record,) = w.store.servers.servers()
    assert record.capacity == 600.0 and record.state == ServerState.BOOTING
    w.store.servers.save(replace(record, capacity=300.0))  # as written before the operator said 600
    w.boot_all()
    w.tick()
    assert [s.load_multiplier for s in w.scalelite.servers()] == [0.5]


#: A server record as the version before this one wrote it (626dddc; every state store keeps this text).
OLDER_RECORD = (
    '{"billed_since":"2026-11-23T08:30:00.000000+00:00","capacity":300.0,'
    '"created_at":"2026-11-23T08:30:00.000000+00:00","image":"bbb-3.0-prepared","load_units":0.0,'
    '"meetings":0,"name":"bbbscale-t-cheap-1","offline_ticks":0,"provider":"cheap","reason":"",'
    '"scalelite_id":"sl-bbbscale-t-cheap-1","since":"2026-11-23T08:30:00.000000+00:00","state":"serving",'
    '"url":"http://bbbscale-t-cheap-1/bigbluebutton/api","version":0,"vm_id":"vm-bbbscale-t-cheap-1"}'
)


def test_an_older_record_loads_and_is_written_back_with_every_key_older_versions_require():
    loaded = records.load(Server, OLDER_RECORD)
    assert loaded == server("bbbscale-t-cheap-1")
    assert json.loads(records.dump(loaded)) == json.loads(OLDER_RECORD)  # `capacity` included


def test_a_simulated_vm_carries_what_the_product_plans_with_for_its_server():
    """The simulator's node and the product read one figure: the provider's capacity_units."""
    import random
    from datetime import timedelta

    from bbbsim.cloud import SimulatedCloud
    from bbbsim.world import SimWorld
    from chalicelib.ports import LaunchSpec, ProviderContext
    from tests.support.builders import T0

    cfg = settings()
    cheap = cfg.providers["cheap"].model_copy(update={"capacity_units": 450, "boot_minutes": 5})
    world, now = SimWorld(random.Random(3)), [T0]
    context = ProviderContext(cluster="t", now=lambda: now[0], secret=lambda name: None)
    cloud = SimulatedCloud("cheap", cheap, {}, context, world)
    cloud.create([LaunchSpec("bbbscale-t-cheap-1", user_data="", tags={})])
    now[0] = T0 + timedelta(minutes=5)
    cloud.list()  # the boot is due: the VM runs and its BBB server appears
    record = server("bbbscale-t-cheap-1", "cheap")
    assert world.nodes["bbbscale-t-cheap-1"].capacity_units == capacity_of(record, {"cheap": cheap}) == 450


def test_status_calls_what_serving_servers_carry_beyond_the_load_spare_capacity_not_headroom():
    """Spare capacity: the serving servers at their provider's capacity_units, less the last tick's load."""
    from chalicelib.adapters.state.memory import MemoryStateStore
    from chalicelib.ports import HistoryEntry
    from chalicelib.service.commands import describe_status
    from chalicelib.service.status import status
    from tests.support.builders import T0

    cfg = settings()
    store = MemoryStateStore(cluster="t")
    for n in (1, 2):  # recorded at 300 units each; the settings say what the provider's servers carry
        store.servers.save(replace(server(f"bbbscale-t-cheap-{n}", "cheap"), capacity=300.0))
    load = {"participants": 40, "meetings": 2, "load_units": 100.0}
    store.history.record(HistoryEntry(T0, "tick", "seen", {"load": load, "desired": {}}))
    document = status(cfg, store, T0)
    carried = 2 * cfg.providers["cheap"].capacity_units
    assert document["capacity_units"] == carried and document["spare_units"] == round(carried - 100.0, 1)
    line = describe_status(document).splitlines()[1]
    assert line == f"Load: 40 users in 2 meetings, 100.0 units; spare capacity {carried - 100.0} units"


def test_status_before_any_capacity_check_says_so_rather_than_desired_0():
    # On a fresh install (chalice local, a first deploy) status said "owned: serving 96 (desired 0)".
    from chalicelib.adapters.state.memory import MemoryStateStore
    from chalicelib.service.commands import describe_status
    from chalicelib.service.status import status
    from tests.support.builders import T0

    store = MemoryStateStore(cluster="t")
    assert "No servers recorded yet" in describe_status(status(settings(), store, T0))
    store.servers.save(server("bbbscale-t-cheap-1", "cheap"))
    text = describe_status(status(settings(), store, T0))
    assert "No capacity check yet" in text and "(desired ?)" in text and "(desired 0)" not in text
