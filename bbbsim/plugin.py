"""The simulator as production sees it: the one object the entry point `bbbscale.plugins:simulator` names
(pyproject.toml), implementing chalicelib/plugins.py's `Simulator` port. Production imports nothing of
bbbsim; it asks this object for the simulated provider kinds' classes, the simulated fleet of `bbbscale
tick`/`run` and of the Lambda handlers' embedded default, and the `simulate`, `demo` and `trace` commands.
Everything is imported on use, so looking the plugin up costs nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from chalicelib.config import ConfigError


class WorldPace:
    """A simulated fleet's pace for `bbbscale run` (chalicelib.plugins.RunPace). A shared clock (the
    SQLite state: every process reads one simulated time) runs by itself, at `speed`; a SimClock is set
    to the wall clock at each tick, and the guard then reads the wall clock. Before each tick the world
    takes the generated school day's classes running then and moves to that time."""

    def __init__(self, world, clock, live: bool, speed: float):
        self.world, self.clock, self.live = world, clock, live
        self.guard_clock: Callable[[], datetime] | None = clock if live else None
        self.guard_speed = speed if live else 1.0

    def moment(self) -> datetime:
        if self.live:
            now: datetime = self.clock()
            return now
        now = datetime.now(UTC)
        self.clock.set(now)
        return now

    def follow(self, now: datetime) -> None:
        from bbbsim.embedded import follow_school_day

        follow_school_day(self.world, now)
        self.world.advance(now)


@contextmanager
def command_fleet(settings, *, speed: float = 1.0, start: datetime | None = None) -> Iterator[tuple]:
    """(wiring, pace) of the simulated fleet of `bbbscale tick` and `run`, following the generated school
    day over real HTTP to a local Scalelite. With the sqlite state backend the world and the state both
    live in `[state] path`, so several processes share one fleet; the clock is then shared too (`speed`
    and `start` let tests run a day faster than real time)."""
    from bbbsim.embedded import follow_school_day, sim_runtime
    from chalicelib.bootstrap import Wiring

    shared_path, clock, store = None, None, None
    if settings.state.backend == "sqlite":
        from bbbsim.shared import SharedClock

        shared_path = settings.state.path
        store = Wiring(settings).store  # opens (creates) the file first
        clock = SharedClock(shared_path, settings.cluster, start, speed)
    now = clock() if clock else datetime.now(UTC).replace(second=0, microsecond=0)
    with sim_runtime(settings, now, http=True, store=store, shared_path=shared_path, clock=clock) as (
        wiring,
        world,
        ticking,
    ):
        follow_school_day(world, now)
        yield wiring, WorldPace(world, ticking, live=clock is not None, speed=speed)


class BbbSimulator:
    """The simulator's side of chalicelib.plugins.Simulator."""

    commands = {
        "simulate": "replay a trace against the simulated fleet",
        "demo": "a school morning on a simulated fleet behind a local Scalelite",
        "trace": "write seed-shaped school traces for simulate",
    }

    def provider_class(self, kind: str) -> type:
        from bbbsim.cloud import SimulatedCloud

        if kind != "simulated":
            raise ConfigError(f"the simulator builds no provider kind {kind!r}")
        return SimulatedCloud

    def add_arguments(self, command: str, parser: argparse.ArgumentParser) -> None:
        from bbbsim.commands import ARGUMENTS

        ARGUMENTS[command](parser)

    def run_command(self, command: str, args: argparse.Namespace, settings) -> int:
        from bbbsim.commands import RUN

        return RUN[command](args, settings)

    def fleet(self, settings, *, speed: float, start: datetime | None):
        return command_fleet(settings, speed=speed, start=start)

    def resident(self, settings):
        from bbbsim.resident import resident_fleet

        return resident_fleet(settings).wiring


#: What the entry point names.
SIMULATOR = BbbSimulator()
