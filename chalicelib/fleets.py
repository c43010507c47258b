"""Which fleet an entry point runs on: the real adapters the configuration names, or — when it names the
simulated cloud (the embedded default) — a simulated fleet, which the simulator builds (plugged in from
outside: plugins.py; one clear error when it is not installed). The Lambda handlers (app.py) ask
`from_environment`; `bbbscale tick` and `run` (the CLI) ask `for_command`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from chalicelib.bootstrap import Wiring, config_path, env_secret, with_environment
from chalicelib.config import Settings
from chalicelib.config_file import load_settings
from chalicelib.plugins import RunPace, simulator
from chalicelib.registry import SIMULATED_KINDS

#: Tests and the chat routes may point this at a factory of their own (see app.py `_wiring`).
WIRING_FACTORY: Callable[[], Wiring] | None = None


def from_environment() -> Wiring:
    """The wiring the Lambda handlers use: BBBSCALE_CONFIG names the TOML file (default: built-in).
    A simulated configuration gets the process's own resident fleet, kept from one invocation to the
    next (`chalice local --stage local`, the Chalice test client)."""
    if WIRING_FACTORY is not None:
        return WIRING_FACTORY()
    settings = with_environment(load_settings(config_path(os.environ.get("BBBSCALE_CONFIG"))))
    if simulated(settings):
        wiring: Wiring = simulator("the simulated fleet (the embedded default)").resident(settings)
        return wiring
    return Wiring(settings)


def simulated(settings: Settings) -> bool:
    """True when the configuration names the simulated cloud: its fleet is the simulator's."""
    return any(p.kind in SIMULATED_KINDS for p in settings.providers.values())


class ClockPace:
    """A real fleet's pace: its clock runs by itself, and there is no world to move."""

    def __init__(self, clock: Callable[[], datetime], speed: float = 1.0):
        self._clock = clock
        self.guard_clock: Callable[[], datetime] | None = clock
        self.guard_speed = speed

    def moment(self) -> datetime:
        return self._clock()

    def follow(self, now: datetime) -> None:
        """Nothing to move: the real world follows time by itself."""


@contextmanager
def for_command(
    settings, speed: float = 1.0, start: datetime | None = None
) -> Iterator[tuple[Wiring, RunPace | None]]:
    """(wiring, pace) for `bbbscale tick` and `run`: the real adapters (pace None: the wiring's clock runs
    by itself, no world to move), or, when the configuration is simulated, the simulator's fleet and
    its pace (`speed` and `start` let tests run a shared simulated day faster than real time)."""
    if not simulated(settings):
        from chalicelib.service.keys import check_secrets

        # Long provider batches say how far they got, on stderr (stdout is the tick's output).
        wiring = Wiring(settings, progress=lambda message: print(message, file=sys.stderr, flush=True))
        # every missing secret named at once, before any call (the wiring builds each adapter on first
        # use): the providers' credentials too, as the loader read them in their options
        check_secrets(settings, env_secret)
        yield wiring, None
        return
    with simulator("the simulated fleet (the embedded default)").fleet(
        settings, speed=speed, start=start
    ) as (wiring, pace):
        yield wiring, pace
