"""`bbbscale demo`: a school morning on the seed's simulated fleet, behind a local Scalelite over HTTP.

A busy morning (1.8 times the seed's rooms, so the hourly hosters are needed): classes on
the hour from 08:00, the forecast pre-warming before each start from the last weeks' history, bbbscale
ticking every simulated minute through real HTTP, and the burst guard looking every few seconds around
each class start, as production runs them both (the guard reads the simulated fleet in process, see
`_guard_ports`). Ends with a summary and a PNG plot (load, need with
headroom, serving capacity with the cordoned servers drawn apart, servers per provider, overloaded
servers); a spell of overload while capacity exceeds the load is named with its minutes.
"""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chalicelib.render import action_lines, fleet_line, load_line

DEMO_DAY = date(2026, 11, 30)  # a Monday of term in zone B
DEMO_SCALE = 1.8  # 1.8 times the seed's rooms: ~27,000 users at the peak, beyond the owned pool
START, END = time(7, 15), time(9, 40)


def run_demo(
    settings,
    plot: str | None = "bbbscale-demo.png",
    as_json: bool = False,
    quiet: bool = False,
    day: date = DEMO_DAY,
    scale: float = DEMO_SCALE,
    start: time = START,
    end: time = END,
) -> int:
    from bbbsim.embedded import sim_runtime
    from bbbsim.minutes import minute_of, overload_spells
    from bbbsim.plot import plot_samples, require_plot
    from bbbsim.replay import Replay
    from bbbsim.schoolday import generate_day
    from bbbsim.traces import history_profile
    from chalicelib.adapters.state.sqlite import SqliteStateStore
    from chalicelib.bootstrap import forecaster as forecast_for
    from chalicelib.service.guard import burst_guard

    if plot:
        require_plot(plot)  # before a minute of replay, not after
    tz = ZoneInfo(settings.timezone)
    t0 = datetime.combine(day, start, tz).astimezone(ZoneInfo("UTC"))
    t1 = datetime.combine(day, end, tz).astimezone(ZoneInfo("UTC"))
    trace = generate_day(day, seed=day.toordinal(), scale=scale, tz=tz)
    profile = history_profile(
        settings,
        [
            generate_day(day - timedelta(weeks=w), seed=day.toordinal() - 7 * w, scale=scale, tz=tz)
            for w in (1, 2, 3)
        ],
    )
    out = sys.stderr if as_json else sys.stdout
    with tempfile.TemporaryDirectory(prefix="bbbscale-demo-") as tmp:
        store = SqliteStateStore(f"{tmp}/state.sqlite3", cluster=settings.cluster)
        forecaster = forecast_for(settings, profile=profile)
        with sim_runtime(settings, t0, http=True, store=store, forecaster=forecaster) as (rt, world, clock):
            print(
                f"bbbscale demo: {day.isoformat()} {start:%H:%M}-{end:%H:%M} {tz.key}, {len(trace):,} classes, "
                f"local Scalelite at {rt.scalelite.settings.url if hasattr(rt.scalelite, 'settings') else 'loopback'}",
                file=out,
            )

            guard = burst_guard(_guard_ports(rt.ports(), world), rt.memory.beside())
            minutes = []

            replay = Replay(trace, world, rt, clock, guard=guard)

            def show(sample, result):
                minutes.append(
                    minute_of(sample.at, world, rt.store, result, replay.real_weights, sample.overloaded)
                )
                if quiet or result is None:
                    return
                local = sample.at.astimezone(tz).strftime("%H:%M")
                print(f"{local}  {load_line(result.load)}", file=out)
                print(
                    f"       need {result.needed_units:,.0f} units | {fleet_line(result.fleet, result.desired)}",
                    file=out,
                )
                for line in action_lines(
                    [a for a in result.actions if a.action.action != "hold" or a.action.server]
                ):
                    print(f"     {line}", file=out)

            outcome = replay.run(t0, t1, on_step=show)
            bill = {name: p.bill(t1) for name, p in rt.providers.items() if hasattr(p, "bill")}
            history = rt.store.history.recent(limit=5, kind="tick")
    peak = max(outcome.samples, key=lambda s: s.users)
    first_class = datetime.combine(day, time(8, 0), tz)
    ready = next(
        (s for s in outcome.samples if s.at >= first_class - timedelta(minutes=15)), outcome.samples[-1]
    )
    spells = overload_spells(outcome.samples, minutes)
    summary = {
        "day": day.isoformat(),
        "peak_users": peak.users,
        "peak_rooms": peak.rooms,
        "peak_servers": max(sum(s.running.values()) for s in outcome.samples),
        "peak_servers_by_provider": {
            name: max(s.running.get(name, 0) for s in outcome.samples) for name in settings.providers
        },
        "serving_capacity_at_0745": round(ready.capacity_units),
        "load_at_peak": round(peak.load_units),
        "rejected_meetings": outcome.rejected,
        "killed_meetings": len(outcome.killed),
        "overloaded_server_minutes": outcome.overloaded_server_minutes,
        "overloaded_share": round(outcome.overloaded_server_minutes / max(outcome.server_minutes, 1), 5),
        "guard_changes": guard.changes if guard is not None else 0,
        "overload_spells": [_spell(spell, tz) for spell in spells],
        "server_hours": round(outcome.server_minutes / 60, 1),
        "cost": round(sum(bill.values()), 2),
        "currency": settings.currency,
        "plot": plot,
    }
    if plot:
        plot_samples(
            outcome.samples,
            plot,
            f"bbbscale demo: {day:%A %d %B %Y}, {start:%H:%M}-{end:%H:%M} {tz.key} "
            f"(simulated fleet, local Scalelite, burst guard {'on' if guard is not None else 'off'})",
            tz,
            minutes=minutes,
        )
    if as_json:
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
        return 0 if not outcome.killed else 1
    print("\nSummary", file=out)
    for line in summary_lines(summary, guard is not None):
        print(f"  {line}", file=out)
    if history:
        # whole, wrapped: cut at 160 characters it ended mid-figure ("peaked at 46,10")
        said = textwrap.wrap(history[0].summary, 72) or [""]
        print(f"  {'last decision':>26}: {said[0]}", file=out)
        for more in said[1:]:
            print(f"  {'':>26}  {more}", file=out)
    return 0 if not outcome.killed else 1


def summary_lines(summary: dict, guarded: bool) -> list[str]:
    """The summary for a reader: one figure a line, the overload with its spells and why they happen."""
    cur = summary["currency"]
    lines = [
        f"{'day':>26}: {summary['day']}",
        f"{'peak':>26}: {summary['peak_users']:,} users in {summary['peak_rooms']:,} rooms, "
        f"{summary['load_at_peak']:,} load units",
        f"{'servers':>26}: {summary['peak_servers']} at most ("
        + ", ".join(f"{name} {n}" for name, n in summary["peak_servers_by_provider"].items())
        + f"), {summary['server_hours']} server-hours, "
        f"{summary['cost']:.2f} {cur} for the hourly hosters",
        f"{'serving capacity at 07:45':>26}: {summary['serving_capacity_at_0745']:,} load units",
        f"{'meetings':>26}: {summary['rejected_meetings']} rejected, {summary['killed_meetings']} killed",
        f"{'overloaded server-minutes':>26}: {summary['overloaded_server_minutes']:,} "
        f"({100 * summary['overloaded_share']:.2f} % of server-minutes, rooms at real size)",
        f"{'burst guard':>26}: "
        + (f"on, {summary['guard_changes']} cordon/enable changes" if guarded else "off ([guard] enabled)"),
    ]
    for spell in summary["overload_spells"]:
        hot = spell["hottest"]
        where = (
            f"; {hot['server']} at up to {hot['percent']} % of its capacity with {hot['rooms']} rooms"
            if hot
            else ""
        )
        lines.append(
            f"{'overload spell':>26}: {spell['from']}-{spell['to']}, {spell['servers']} server(s) overloaded "
            f"while the fleet had room{where}: its rooms grew past its capacity after they were placed "
            "(Scalelite places a room at its create, by the load it saw then; a running room is never moved, "
            "the burst guard only steers new ones)"
        )
    if not summary["overload_spells"]:
        lines.append(f"{'overload spells':>26}: none longer than 5 minutes while capacity exceeded the load")
    if summary["plot"]:
        lines.append(f"{'plot':>26}: {summary['plot']}")
    return lines


def _spell(spell: dict, tz) -> dict:
    """A spell of overload for the summary: local times, the hottest server and how far past it was."""
    hot = spell["hottest"]
    return {
        "from": spell["from"].astimezone(tz).strftime("%H:%M"),
        "to": spell["to"].astimezone(tz).strftime("%H:%M"),
        "servers": spell["servers"],
        "hottest": {"server": hot[0], "percent": _percent_past(hot[1], hot[2]), "rooms": hot[3]}
        if hot
        else None,
    }


def _guard_ports(ports, world):
    """The burst guard's ports for the demo: the same store, clock and settings as the tick (its room sizes
    come with `rt.memory.beside()`), but Scalelite and the BBB servers read in process. The guard's logic is production's; only its
    transport differs: over loopback HTTP its look every second or two (getServers, then each moved
    server's getMeetings) takes longer than the simulated minute on a small machine, and the demo
    would last half an hour. The tick still crosses HTTP."""
    from dataclasses import replace

    from bbbsim.direct import DirectBbb, DirectScalelite
    from bbbsim.scalelite_model import name_in_url
    from chalicelib.adapters.scalelite.servers import BbbServersOverHttp

    settings = ports.settings.scalelite.model_copy(update={"server_poll_concurrency": 1})
    bbb = BbbServersOverHttp(
        settings, lambda url, secret, name: DirectBbb(world, name_in_url(url) or name or url, secret)
    )
    return replace(ports.beside(), scalelite=DirectScalelite(world), bbb=bbb, parallel_checks=False)


def _percent_past(units: float, capacity: float) -> int:
    """A server's load as a whole percent of its capacity; past it, never shown as 100 (an overloaded
    server "at up to 100 % of its capacity" read as a full one)."""
    percent = round(100 * units / capacity)
    return max(percent, 101) if units > capacity else percent
