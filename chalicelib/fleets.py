"""Which fleet an entry point runs on: the real adapters the configuration names, or — when it names the
simulated cloud (the embedded default) — a simulated fleet. The Lambda handlers (app.py) ask
`from_environment`; `bbbscale tick` and `run` (the CLI) ask `for_command`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from chalicelib.bootstrap import Wiring, config_path, env_secret, with_environment
from chalicelib.config import Settings

#: Tests and the chat routes may point this at a factory of their own (see app.py `_wiring`).
from chalicelib.config_file import load_settings

WIRING_FACTORY: Callable[[], Wiring] | None = None


def from_environment() -> Wiring:
    """The wiring the Lambda handlers use: BBBSCALE_CONFIG names the TOML file (default: built-in).
    A simulated configuration gets the process's own resident fleet, kept from one invocation to the
    next (`chalice local --stage local`, the Chalice test client)."""
    if WIRING_FACTORY is not None:
        return WIRING_FACTORY()
    settings = with_environment(load_settings(config_path(os.environ.get("BBBSCALE_CONFIG"))))
    if simulated(settings):
        from chalicelib.sim.resident import resident_fleet

        return resident_fleet(settings).wiring
    return Wiring(settings)


def provider_secrets(settings: Settings) -> dict[str, list[str]]:
    """Each real provider's secret names (its options' `secrets_needed`), by provider name."""
    from chalicelib.registry import PROVIDERS, resolve

    found: dict[str, list[str]] = {}
    for name, provider in settings.providers.items():
        if provider.kind in PROVIDERS:
            options = resolve(PROVIDERS, provider.kind, "provider kind").Options.model_validate(
                provider.options
            )
            needs = getattr(options, "secrets_needed", None)
            found[name] = needs() if needs else []
    return found


def simulated(settings: Settings) -> bool:
    """True when the configuration names the simulated cloud: its fleet is the simulator's."""
    return any(p.kind == "simulated" for p in settings.providers.values())


@contextmanager
def for_command(settings, speed: float = 1.0, start: datetime | None = None) -> Iterator[tuple]:
    """(wiring, world) for `bbbscale tick` and `run`: the real adapters (world None), or, when the
    configuration is simulated, a simulated world following the generated school day. With the sqlite
    state backend the world and the state both live in `[state] path`, so several processes share one
    fleet; the clock is then shared too (`speed` and `start` let tests run a day faster than real
    time)."""
    if not simulated(settings):
        from chalicelib.service.keys import check_secrets

        # every missing secret named at once, before any call: the providers' credentials too
        check_secrets(settings, env_secret, provider_secrets(settings))
        # Long provider batches say how far they got, on stderr (stdout is the tick's output).
        yield Wiring(settings, progress=lambda message: print(message, file=sys.stderr, flush=True)), None
        return
    from chalicelib.sim.embedded import follow_school_day, sim_runtime

    shared_path, clock, store = None, None, None
    if settings.state.backend == "sqlite":
        from chalicelib.sim.shared import SharedClock

        shared_path = settings.state.path
        store = Wiring(settings).store  # opens (creates) the file first
        clock = SharedClock(shared_path, settings.cluster, start, speed)
    now = clock() if clock else datetime.now(UTC).replace(second=0, microsecond=0)
    with sim_runtime(settings, now, http=True, store=store, shared_path=shared_path, clock=clock) as (
        wiring,
        world,
        _,
    ):
        follow_school_day(world, now)
        yield wiring, world
