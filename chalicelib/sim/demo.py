"""`bbbscale demo`: a school morning on the seed's simulated fleet, behind a local Scalelite over HTTP.

A busy morning (1.8 times the seed's rooms, so the hourly hosters are needed): classes on
the hour from 08:00, the forecast pre-warming before each start from the last weeks' history, bbbscale
ticking every simulated minute through real HTTP. Ends with a summary and a PNG plot.
"""

from __future__ import annotations

import json
import sys
import tempfile
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
    from chalicelib.adapters.state.sqlite import SqliteStateStore
    from chalicelib.bootstrap import forecaster as forecast_for
    from chalicelib.sim.embedded import sim_runtime
    from chalicelib.sim.plot import plot_samples
    from chalicelib.sim.replay import Replay
    from chalicelib.sim.schoolday import generate_day
    from chalicelib.sim.traces import history_profile

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

            def show(sample, result):
                if quiet or result is None:
                    return
                local = sample.at.astimezone(tz).strftime("%H:%M")
                print(f"{local}  {load_line(result['load'])}", file=out)
                print(
                    f"       need {result['needed_units']:,.0f} units | {fleet_line(result['fleet'], result['desired'])}",
                    file=out,
                )
                for line in action_lines(
                    [a for a in result["actions"] if a["action"] != "hold" or a.get("server")]
                ):
                    print(f"     {line}", file=out)

            outcome = Replay(trace, world, rt, clock).run(t0, t1, on_step=show)
            bill = {name: p.bill(t1) for name, p in rt.providers.items() if hasattr(p, "bill")}
            history = rt.store.history.recent(limit=5, kind="tick")
    peak = max(outcome.samples, key=lambda s: s.users)
    first_class = datetime.combine(day, time(8, 0), tz)
    ready = next(
        (s for s in outcome.samples if s.at >= first_class - timedelta(minutes=15)), outcome.samples[-1]
    )
    summary = {
        "day": day.isoformat(),
        "peak_users": peak.users,
        "peak_rooms": peak.rooms,
        "peak_servers": max(sum(s.running.values()) for s in outcome.samples),
        "serving_capacity_at_0745": round(ready.capacity_units),
        "load_at_peak": round(peak.load_units),
        "rejected_meetings": outcome.rejected,
        "killed_meetings": len(outcome.killed),
        "overloaded_server_minutes": outcome.overloaded_server_minutes,
        "server_hours": round(outcome.server_minutes / 60, 1),
        "cost": round(sum(bill.values()), 2),
        "currency": settings.currency,
        "plot": plot,
    }
    if plot:
        plot_samples(
            outcome.samples, plot, f"bbbscale demo — {day.isoformat()} (simulated fleet, local Scalelite)", tz
        )
    if as_json:
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    else:
        print("\nSummary", file=out)
        for key, value in summary.items():
            print(f"  {key:>26}: {value}", file=out)
        if history:
            print(f"  {'last decision':>26}: {history[0].summary[:160]}", file=out)
    return 0 if not outcome.killed else 1
