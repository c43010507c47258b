"""The simulated cloud lists the same VM record while nothing it copies has changed (a replayed week lists
every VM every minute): each change of a VM must still show in the very next listing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bbbsim.cloud import SimulatedCloud
from bbbsim.world import SimWorld
from chalicelib.config import ProviderSettings
from chalicelib.ports import LaunchSpec, ProviderContext

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
TAGS = {"bbbscale:cluster": "demo", "bbbscale:provider": "gandi"}


def test_each_change_of_a_vm_shows_in_the_next_listing():
    world, now = SimWorld(random.Random(3)), [T0]
    context = ProviderContext(cluster="demo", now=lambda: now[0], secret=lambda name: None)
    provider = SimulatedCloud("gandi", ProviderSettings(boot_minutes=5), {}, context, world)
    vm = provider.create([LaunchSpec("bbbscale-demo-gandi-1", user_data="", tags=TAGS)])[0]
    listed = provider.list()
    assert [(v.status, v.address, v.tags) for v in listed] == [
        ("pending", "sim://bbbscale-demo-gandi-1", TAGS)
    ]
    assert provider.list() == listed
    now[0] = T0 + timedelta(minutes=5)
    assert [v.status for v in provider.list()] == ["running"]
    provider.stop(vm.vm_id)
    assert [v.status for v in provider.list()] == ["stopped"]
    provider.start(vm.vm_id)
    assert [v.status for v in provider.list()] == ["pending"]
    world.url_for = lambda name: f"https://lb.test/bbb/{name}/bigbluebutton/api"
    assert [v.address for v in provider.list()] == [
        "https://lb.test/bbb/bbbscale-demo-gandi-1/bigbluebutton/api"
    ]
    provider.destroy(vm.vm_id)
    assert provider.list() == []
