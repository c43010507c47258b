"""`bbbscale simulate`: replay a trace through the real tick on the in-process simulated fleet, and measure
it against the oracle (docs/contract.md "simulate --json").

The comparison policies run the same pipeline with other settings, so only the policy differs:
- `bbbscale`: the configuration as it is (headroom, forecast from `--history` traces and what the replay
  itself records, stabilization, paid-hour scale-in);
- `reactive`: DiViMS-style, capacity twice the current load, no forecast;
- `static`: the seed's manual plan, a fleet sized for the trace's peak, held all along (operator floors).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta

from chalicelib.ports import BbbscaleError

POLICIES = ("bbbscale", "reactive", "static")
WARMUP = timedelta(minutes=90)  # ticks before the first meeting: the forecast's lead and the boots
COOLDOWN = timedelta(minutes=90)  # after the last one: drains and paid-hour stops


def policy_settings(settings, policy: str, trace):
    """The settings a policy runs with, and the operator floors it holds (static)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of: {', '.join(POLICIES)}")
    if policy == "bbbscale":
        return settings, {}
    no_forecast = settings.forecast.model_copy(update={"enabled": False})
    settings = settings.model_copy(update={"guard": settings.guard.model_copy(update={"enabled": False})})
    if policy == "reactive":
        headroom = settings.headroom.model_copy(update={"percent": 100.0, "units": 0.0})
        return settings.model_copy(update={"headroom": headroom, "forecast": no_forecast}), {}
    from bbbsim.traces import load_series
    from chalicelib.domain.policy import allocate

    peak = max((units for _, units in load_series(trace, settings.weights)), default=0.0)
    floors = {
        p: n
        for p, n in allocate(peak, settings.providers).servers.items()
        if settings.providers[p].mode != "static"
    }
    return settings.model_copy(update={"forecast": no_forecast}), floors


def simulate(
    settings,
    trace,
    policy: str = "bbbscale",
    history=(),
    seed: int = 0,
    on_step=None,
    poll_interval: float = 60.0,
    progress=None,
    minutes: list | None = None,
    getmeetings_seconds: float | None = None,
    look_latency: float = 0.0,
    look_failure_rate: float = 0.0,
) -> dict:
    """Replay `trace` and return the `simulate --json` document (plus the samples for a plot).
    `poll_interval`: Scalelite's POLL_INTERVAL in seconds; `getmeetings_seconds`: each BBB server's
    getMeetings as Scalelite's poller waits for it (its rounds' length; default the model's 0.1 s);
    `look_latency`/`look_failure_rate`: each call of the burst guard's looks takes that long and fails
    that often (seeded; bbbsim/look_cost.py); `progress(done, total)` is called now and then
    with simulated minutes done and to do (the CLI prints it on stderr). `minutes`, when given, gets
    each minute's need and cordoned capacity (bbbsim.minutes) for the picture."""
    from bbbsim.embedded import sim_runtime
    from bbbsim.minutes import minute_of
    from bbbsim.oracle import oracle
    from bbbsim.replay import Replay
    from bbbsim.traces import history_profile
    from chalicelib.adapters.state.memory import MemoryStateStore
    from chalicelib.bootstrap import forecaster as forecast_for
    from chalicelib.service.guard import burst_guard

    if not trace:
        raise BbbscaleError("the trace has no meetings")
    run_settings, floors = policy_settings(settings, policy, trace)
    start = min(m.start for m in trace).replace(second=0, microsecond=0) - WARMUP
    end = max(m.end for m in trace) + COOLDOWN
    store = MemoryStateStore(cluster=run_settings.cluster)
    if floors:
        store.settings.put(
            "floors", {p: {"servers": n, "until": None, "by": "static plan"} for p, n in floors.items()}
        )
    forecaster = None
    if run_settings.forecast.enabled:
        profile = history_profile(run_settings, history) if history else None
        forecaster = forecast_for(run_settings, store=None if profile else store, profile=profile)
    began = time.perf_counter()
    with sim_runtime(
        run_settings,
        start,
        http=False,
        store=store,
        seed=seed,
        forecaster=forecaster,
        poll_interval_s=poll_interval,
    ) as (rt, world, clock):
        ports = rt.ports()
        guard = burst_guard(ports, rt.memory)
        if guard is not None and history:
            _seen_before(ports, rt.memory, history)
        if getmeetings_seconds is not None:
            world.seconds_per_server = getmeetings_seconds
        look_cost = None
        if look_latency or look_failure_rate:
            from bbbsim.look_cost import LookCost

            look_cost = LookCost(
                look_latency,
                look_failure_rate,
                seed=seed,
                concurrency=run_settings.scalelite.server_poll_concurrency,
            )
        replay = Replay(trace, world, rt, clock, seed=seed, guard=guard, look_cost=look_cost)
        total = max(1, int((end - start).total_seconds() // 60))
        spreads: list = []
        settled = _burst_ends(run_settings)

        def step(sample, result):
            if progress is not None:
                done = int((sample.at - start).total_seconds() // 60)
                if done % 240 == 0:
                    progress(done, total)
            if settled(sample.at) and sample.rooms:
                spreads.append(_spread(world, replay.real_weights))
            if minutes is not None:
                minutes.append(minute_of(sample.at, world, rt.store, result))
            if on_step is not None:
                on_step(sample, result)

        outcome = replay.run(start, end, on_step=step, idle=lambda now: _idle(replay, rt, now))
        if progress is not None:
            progress(total, total)
        bill = {name: p.bill(end) for name, p in rt.providers.items()}
        seconds = {name: p.server_seconds(end) for name, p in rt.providers.items()}
    elapsed = time.perf_counter() - began
    # each room at most one server: a room heavier than any server is one full server whatever the fleet
    spread = [(s.at, s.load_units if s.spread_units is None else s.spread_units) for s in outcome.samples]
    best = oracle(spread, settings.providers)
    cost = sum(v for p, v in bill.items() if settings.providers[p].mode != "static")
    # The owned pool runs all along under any policy: count its hours the same way on both sides (the
    # oracle's own count covers only the ticked minutes, not the nights the replay skips).
    static_hours = sum(seconds[p] for p in seconds if settings.providers[p].mode == "static") / 3600
    oracle_hours = static_hours + sum(
        h for p, h in best.by_provider.items() if settings.providers[p].mode != "static"
    )
    return {
        "policy": policy,
        "server_hours": round(sum(seconds.values()) / 3600, 1),
        "cost": round(cost, 2),
        "currency": settings.currency,
        "oracle_server_hours": round(oracle_hours, 1),
        "oracle_cost": round(best.cost, 2),
        "overloaded_server_minutes": outcome.overloaded_server_minutes,
        "rejected_meetings": outcome.rejected,
        "killed_meetings": len(outcome.killed),
        "refused_joins": outcome.refused,
        "peak_users": max((s.users for s in outcome.samples), default=0),
        "peak_servers": max((sum(s.running.values()) for s in outcome.samples), default=0),
        "server_minutes": outcome.server_minutes,
        "cost_vs_oracle": round(cost / best.cost, 3) if best.cost else None,
        "overloaded_share": round(outcome.overloaded_server_minutes / outcome.server_minutes, 5)
        if outcome.server_minutes
        else 0.0,
        "scalelite_poll_seconds": poll_interval,
        "guard": {
            "looks": guard.looks,
            "changes": guard.changes,
            "failed_looks": replay.guard_errors,
            "calls": look_cost.calls if look_cost else None,
            "failed_calls": look_cost.failures if look_cost else None,
        }
        if guard is not None
        else None,
        "scalelite": {
            "getmeetings_seconds": world.seconds_per_server,
            "placeable_cordoned_server_seconds": round(world.placeable_cordoned_s, 1),
            "placeable_disabled_server_seconds": round(world.placeable_disabled_s, 1),
            "polls": world.polls,
        },
        "herding": _herding(spreads),
        "overloaded_by_day": _by_day(outcome.samples, settings.timezone),
        "ticks": len(outcome.samples),
        "wall_seconds": round(elapsed, 1),
        "_samples": outcome.samples,
    }


def _burst_ends(settings):
    """Whether a minute is 15 minutes after a timetable class start (a burst has landed and filled)."""
    from chalicelib.domain.slots import SlotClock

    slots = SlotClock(settings)

    def settled(at: datetime) -> bool:
        return any(
            abs((at - (s + timedelta(minutes=15))).total_seconds()) < 30 for s in slots.starts_around(at)
        )

    return settled


def _spread(world, weights):
    """Rooms and real load per server carrying rooms (chalicelib.domain.herding.spread)."""
    from chalicelib.domain.herding import spread
    from chalicelib.domain.load import room_costs

    rows = []
    with world.lock:
        for name, node in world.nodes.items():
            rooms = [m for m in world.on_server.get(name, {}).values() if not m.is_breakout]
            rows.append((len(rooms), sum(room_costs(rooms, weights, 0.0)), node.capacity_units))
    return spread(rows)


def _by_day(samples, timezone: str) -> dict[str, int]:
    """Overloaded server-minutes per local day (where a week's overload comes from)."""
    from zoneinfo import ZoneInfo

    zone, out = ZoneInfo(timezone), dict[str, int]()
    for s in samples:
        if s.overloaded:
            day = s.at.astimezone(zone).date().isoformat()
            out[day] = out.get(day, 0) + s.overloaded
    return out


def _herding(spreads) -> dict | None:
    """The mean spread after the bursts of the replay (how much Scalelite herded)."""
    if not spreads:
        return None
    n = len(spreads)
    return {
        "bursts": n,
        "rooms_cv": round(sum(s.rooms_cv for s in spreads) / n, 4),
        "load_cv": round(sum(s.load_cv for s in spreads) / n, 4),
        "overloaded_servers": round(sum(s.overloaded for s in spreads) / n, 2),
    }


def _seen_before(ports, memory, history) -> None:
    """What the tick would have learnt of each room's size in the history's weeks (each session at its
    steady size, at real size), as if bbbscale had watched them."""
    from bbbsim.traces import steady_units
    from chalicelib.domain.slots import SlotClock
    from chalicelib.service.room_memory import room_sizes

    sizes, slots = room_sizes(memory, ports.store, ports.settings), SlotClock(ports.settings)
    slot_of: dict = {}
    for trace in history:
        for m in sorted(trace, key=lambda m: m.start):
            slot = slot_of.get(m.start)
            if slot is None:
                slot = slot_of[m.start] = slots.slot_of(m.start) or ""
            sizes.learn(
                m.meeting_id, int(m.start.timestamp() * 1000), steady_units(m, ports.settings.weights), slot
            )


def _idle(replay, rt, now: datetime) -> datetime | None:
    """When nothing can happen until the next meeting (no meeting, no hourly server running, no forecast
    before it), the time to jump to; None to tick normally. Saves the nights of a week-long replay."""
    if replay.active or replay.events or replay.cursor >= len(replay.pending):
        return None
    if any(
        s.provider in rt.settings.providers and rt.settings.providers[s.provider].mode != "static"
        for s in rt.store.servers.servers()
        if s.state.value not in ("stopped", "destroyed", "failed", "lost")
    ):
        return None
    wake = replay.pending[replay.cursor].start - WARMUP
    return wake if wake > now + timedelta(minutes=5) else None


def simulate_command(args, settings) -> int:
    """The CLI entry: read the trace (and history), replay, print, plot."""
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from bbbsim.traces import read_trace

    if args.plot:
        from bbbsim.plot import require_plot

        require_plot(args.plot)  # before the replay, not after it
    trace = read_trace(args.trace)
    history = [read_trace(path) for path in (getattr(args, "history", None) or [])]
    minutes: list = []
    result = simulate(
        settings,
        trace,
        args.policy,
        history=history,
        poll_interval=getattr(args, "scalelite_poll", None) or 60.0,
        getmeetings_seconds=getattr(args, "getmeetings_seconds", None),
        look_latency=getattr(args, "look_latency", None) or 0.0,
        look_failure_rate=getattr(args, "look_failures", None) or 0.0,
        progress=lambda done, total: print(
            f"simulate: {done}/{total} simulated minutes ({100 * done // total} %)",
            file=sys.stderr,
            flush=True,
        ),
        minutes=minutes if args.plot else None,
    )
    samples = result.pop("_samples")
    if args.plot:
        from bbbsim.plot import plot_samples

        tz = ZoneInfo(settings.timezone)
        days = sorted({s.at.astimezone(tz).date() for s in samples if s.users})
        span = f"{days[0]:%a %d %b}-{days[-1]:%a %d %b %Y}" if days else ""
        plot_samples(
            samples,
            args.plot,
            f"bbbscale simulate: trace {Path(args.trace).name}, {span}, policy {args.policy}",
            tz,
            bottom_first=tuple(name for name, p in settings.providers.items() if p.mode == "static"),
            minutes=minutes,
        )
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        for line in result_lines(result):
            print(line)
    return 0


def result_lines(result: dict) -> list[str]:
    """The result for a reader: one `name: value` a line, nested figures flattened (`herding.rooms_cv`),
    absent ones said in words (the oracle costing nothing, no burst measured) instead of `None`."""
    lines: list[tuple[str, object]] = []
    for key, value in result.items():
        if key == "cost_vs_oracle" and value is None:
            value = "n/a (the oracle costs nothing: the owned pool carries the whole trace)"
        elif value is None:
            value = {"guard": "off", "herding": "no class start measured"}.get(key, "n/a")
        if isinstance(value, dict):
            if not value:
                lines.append((key, "none"))
            for name, inner in value.items():
                lines.append((f"{key}.{name}", "n/a" if inner is None else inner))
            continue
        lines.append((key, value))
    width = max((len(name) for name, _ in lines), default=0)
    return [f"{name:>{width}}: {value}" for name, value in lines]
