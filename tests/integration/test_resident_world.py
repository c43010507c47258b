"""The simulated fleet a long-lived process keeps for the embedded default (the `local` stage): one
world per configuration, its classes starting and ending with the clock, its servers kept between
invocations."""

from __future__ import annotations

from datetime import UTC, datetime

from bbbsim.resident import resident_fleet
from bbbsim.schoolday import generate_day
from chalicelib.config_file import load_settings, parse_settings

MONDAY_0905 = datetime(2026, 11, 30, 8, 5, tzinfo=UTC)  # 09:05 in Paris, a Monday of term
MONDAY_NIGHT = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def settings_on(path) -> object:
    document = load_settings().model_dump()
    document["state"] = {**document["state"], "path": str(path)}
    return parse_settings(document)


def test_the_world_holds_the_classes_running_now_and_lets_them_end(tmp_path):
    settings = settings_on(tmp_path / "state.sqlite3")
    fleet = resident_fleet(settings, MONDAY_0905)
    expected = {
        m.meeting_id
        for m in generate_day(MONDAY_0905.date(), seed=MONDAY_0905.toordinal())
        if m.start <= MONDAY_0905 < m.end
    }
    assert expected and set(fleet.world.meetings) == expected
    assert resident_fleet(settings, MONDAY_NIGHT) is fleet  # the same world, later
    assert fleet.world.meetings == {}  # school is out


def test_a_tick_on_the_resident_world_is_seen_by_the_next_invocation(tmp_path):
    settings = settings_on(tmp_path / "state.sqlite3")
    fleet = resident_fleet(settings)
    first = fleet.wiring.tick(dry_run=False)
    again = resident_fleet(settings).wiring.tick(dry_run=False)
    assert first.fleet["owned"] == {"serving": 96} and again.fleet["owned"] == {"serving": 96}
    assert len(fleet.wiring.store.history.recent(10, kind="tick")) == 2  # both in the configuration's file
    other = resident_fleet(settings_on(tmp_path / "other.sqlite3"))
    assert other is not fleet and other.world is not fleet.world
