"""The simulator, plugged in from outside (issue 21): production names it only through this port.

The simulator (the top-level package `bbbsim`, beside chalicelib) registers one object under the entry
point group `bbbscale.plugins`, name `simulator` (pyproject.toml declares it, so the checkout's editable
install and the wheel both register it). Production never imports the package: the configuration loader
asks it for the simulated provider kinds' classes, `fleets.py` for a simulated fleet, the CLI for the
`simulate`, `demo` and `trace` commands. Lambda does not ship it (Chalice packages app.py and chalicelib/
only); where it is absent, whatever needed it fails with one clear error naming what is missing.

Only the ground floor is imported here (ConfigError), so the loader may use this module.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Protocol

from chalicelib.config import ConfigError

GROUP = "bbbscale.plugins"
NAME = "simulator"


class SimulatorMissing(ConfigError):
    """The simulator is not installed, and something asked for it (exit 2 from the CLI)."""


class RunPace(Protocol):
    """What `bbbscale run`'s loop needs from a fleet's time and world (run.py). A real fleet's clock runs
    by itself and there is no world to move; the simulator's may be a clock the loop sets, and its world
    follows the school day minute by minute."""

    #: What the burst guard reads (None: the wall clock), and how much faster than real time it runs.
    guard_clock: Callable[[], datetime] | None
    guard_speed: float

    def moment(self) -> datetime:
        """The time of a tick now (a clock the loop drives is set to the wall clock here)."""
        ...

    def follow(self, now: datetime) -> None:
        """Bring the fleet's world to `now` before a tick (a real fleet has nothing to do)."""
        ...


class Simulator(Protocol):
    """What the simulator offers production (bbbsim/plugin.py implements it)."""

    #: The CLI commands it offers, in order, with their one-line help.
    commands: dict[str, str]

    def provider_class(self, kind: str) -> type:
        """The class of a simulated provider kind (one of registry.SIMULATED_KINDS): its `Options` model checks a
        configuration's options table."""
        ...

    def add_arguments(self, command: str, parser: argparse.ArgumentParser) -> None:
        """Declare `command`'s own options on its subparser."""
        ...

    def run_command(self, command: str, args: argparse.Namespace, settings: Any) -> int:
        """Run `command` (exit status; errors as the CLI's)."""
        ...

    def fleet(
        self, settings: Any, *, speed: float, start: datetime | None
    ) -> AbstractContextManager[tuple[Any, RunPace]]:
        """(wiring, pace) of a simulated fleet for `bbbscale tick` and `run`, stopped on exit."""
        ...

    def resident(self, settings: Any) -> Any:
        """The wiring of this process's long-lived simulated fleet (the Lambda handlers' embedded
        default: `chalice local`, the Chalice test client)."""
        ...


def simulator(needed_by: str) -> Simulator:
    """The installed simulator, or SimulatorMissing saying what `needed_by` it and what is missing."""
    found = installed()
    if found is None:
        raise SimulatorMissing(
            f"{needed_by} needs the simulator, which is not installed: no entry point {NAME!r} in group "
            f"{GROUP!r} (the package 'bbbsim', shipped in the bbbscale wheel; a checkout gets it from "
            "`./dev setup`)"
        )
    return found


@cache
def installed() -> Simulator | None:
    """The object the entry point names, loaded once; None when no installed distribution offers one."""
    for point in entry_points(group=GROUP, name=NAME):
        try:
            loaded: Simulator = point.load()
        except ImportError:  # registered, but its package is gone: as good as absent
            return None
        return loaded
    return None
