"""Several processes on one simulated world (one SQLite file) name each BBB server by one URL (issue 19).

Each `bbbscale run`/`tick` process on a simulated fleet serves the world's BBB servers through its own
local Scalelite, on a port of its own. The owned pool is registered in Scalelite by the first process that
builds the fleet, with that process's port; its records are written by whichever process ticks first. When
the two were different processes, the records named the servers by one port and Scalelite by another: the
burst guard, which finds bbbscale's record of a Scalelite server by its URL, took every owned server for
someone else's (capacity 0, not meant to serve) and never cordoned one. That was the kill-guard test's
flake (tests/integration/test_kill_guard.py, about 1 run in 4 under load: which process starts first is
left to the machine). A server registered in Scalelite now goes by the URL it was registered with in every
process; one not yet registered by this process's.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bbbsim.scalelite_http import LocalScalelite
from bbbsim.scalelite_model import name_in_url
from bbbsim.shared import share_world
from bbbsim.world import SimWorld
from chalicelib.config_file import load_settings
from chalicelib.fleets import for_command
from chalicelib.service.guard import BurstGuard
from chalicelib.service.service_ports import GuardPorts

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 30, 6, 58, 30, tzinfo=UTC)  # 07:58:30 in Paris, a Monday of term


def test_a_server_registered_by_another_process_goes_by_its_registered_url(tmp_path):
    path = str(tmp_path / "world.sqlite3")
    first, second = SimWorld(random.Random(1)), SimWorld(random.Random(2))
    share_world(first, path, "c")
    share_world(second, path, "c")
    with (
        LocalScalelite(first, "lb-secret-0123456789") as one,
        LocalScalelite(second, "lb-other-0123456789") as two,
    ):
        assert one.base != two.base  # two processes, two ports
        with first.lock:
            first.add_bbb_server("s0", "bbb-secret-0", 300, T0)
            first.add_server(first.url_for("s0"), "bbb-secret-0", state="enabled", online=True)
        with second.lock:
            assert second.url_for("s0") == one.server_url("s0")  # as Scalelite has it
            assert second.url_for("s1") == two.server_url("s1")  # not registered: this process's
        # each process still reaches every server through its own local Scalelite
        assert two.server_url("s0").startswith(two.base)


def _fleet_settings(tmp_path: Path):
    fixture = (ROOT / "tests" / "fixtures" / "fault-fleet.toml").read_text()
    fixture = fixture.replace('path = "fault.sqlite3"', f'path = "{tmp_path / "fault.sqlite3"}"')
    owned = "min_servers = 2\nmax_servers = 2\nquota = 2"  # four owned servers, as the kill-guard test:
    assert owned in fixture  # the guard may cordon one and leave two placeable
    fixture = fixture.replace(owned, owned.replace("2", "4"), 1)
    config = tmp_path / "fleet.toml"
    config.write_text(fixture + "\n[guard]\nafter_slot_minutes = 60\n\n[metrics]\nenabled = false\n")
    return load_settings(config)


def test_the_guard_of_a_process_that_did_not_register_the_owned_pool_still_cordons_it(tmp_path):
    """The flake's case, made deterministic: one process builds the fleet (registers the owned pool in
    Scalelite), the other ticks first (writes the owned records) and looks with its guard."""
    settings = _fleet_settings(tmp_path)
    with (
        for_command(settings, start=T0) as (_registering, _),
        for_command(settings, start=T0) as (ticking, pace),
    ):
        world = pace.world  # for_command yields the run pace (bbbsim/plugin.py WorldPace), its world inside
        now = T0 + timedelta(seconds=5)
        ticking.tick(now=now)
        registered = {e.url for e in world.scalelite_servers()}
        owned = [r for r in ticking.store.servers.servers() if r.provider == "owned"]
        assert owned and all(r.url in registered for r in owned), ([r.url for r in owned], registered)

        # a burst herded onto one owned server (as Scalelite's placement between two polls does)
        with world.lock:
            target = next(e for e in world.scalelite_servers() if "-owned-" in e.url)
            for i in range(60):
                world.create_meeting(
                    f"herded-{i}",
                    now,
                    participants=40,
                    moderators=1,
                    voice=10,
                    server=name_in_url(target.url),
                )
        guard = BurstGuard(GuardPorts.of(ticking.ports()), ticking.memory)
        done = []
        for step in range(0, 150, 2):  # looks every 2 s while Scalelite's poller catches up
            moment = now + timedelta(seconds=step)
            world.advance(moment)
            done += guard.check(moment)
            if done:
                break
        assert any(a["action"] == "cordon" and a["server_id"] == target.id for a in done), done
