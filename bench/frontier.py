"""Can any headroom meet issue 7's target point (cost <= 1.5x the oracle AND overload <= 0.1%)? The
frontier with a perfect forecast, and where the overload comes from.

    .venv/bin/python bench/frontier.py [--scale 1.6] [--jobs 2] [--plot bench/plots/frontier.png]

1. One generated Tuesday replayed through the real tick with a *perfect* forecast (the history is the
   day itself, so timing errors are not the forecast's) for a sweep of headrooms, and with the
   configured forecast (three other generated Tuesdays) at the default headroom for comparison.
2. The placement spread: in the same replay, at every minute where the enabled fleet runs above half
   its capacity, the spread of load units across servers (coefficient of variation) and of Scalelite's
   own count. Scalelite places each new room on the server with the lowest count (+1 per create and
   join between its 60 s polls); a class's rooms arrive within a minute and fill up over the next
   minutes, so their final size is unknown when they are placed, and webcams are not counted at all.
Prints Markdown tables for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta

DAY = date(2026, 12, 1)  # a Tuesday
HEADROOMS = (0.0, 10.0, 20.0, 35.0, 50.0)


def _settings(headroom: float):
    from chalicelib.config_file import load_settings

    base = load_settings()
    return base.model_copy(update={"headroom": base.headroom.model_copy(update={"percent": headroom})})


def _traces(scale: float, perfect: bool):
    from bbbsim.schoolday import generate_day

    day = generate_day(DAY, seed=11, scale=scale)
    if perfect:
        return day, [day]
    return day, [generate_day(DAY - timedelta(weeks=w), seed=11 + w, scale=scale) for w in (1, 2, 3)]


def replay(args: tuple[float, float, bool]) -> dict:
    """One simulate run: cost against the oracle and overload share."""
    from bbbsim.simulate import simulate

    scale, headroom, perfect = args
    trace, history = _traces(scale, perfect)
    result = simulate(_settings(headroom), trace, "bbbscale", history=history)
    result.pop("_samples")
    return {
        "headroom": headroom,
        "forecast": "perfect" if perfect else "3 other Tuesdays",
        "ratio": result["cost"] / result["oracle_cost"],
        "cost": result["cost"],
        "oracle": result["oracle_cost"],
        "overload": 100.0 * result["overloaded_server_minutes"] / result["server_minutes"],
        "rejected": result["rejected_meetings"],
        "killed": result["killed_meetings"],
    }


def spread(scale: float) -> dict:
    """Coefficients of variation across enabled servers, on minutes above half the fleet's capacity."""
    from bbbsim.embedded import sim_runtime
    from bbbsim.replay import Outcome, Replay
    from bbbsim.simulate import WARMUP
    from bbbsim.traces import history_profile
    from chalicelib.adapters.state.memory import MemoryStateStore
    from chalicelib.bootstrap import forecaster as forecast_for
    from chalicelib.domain.load import meeting_units

    settings = _settings(20.0)
    trace, history = _traces(scale, True)
    start = min(m.start for m in trace).replace(second=0, microsecond=0) - WARMUP
    end = max(m.end for m in trace)
    forecaster = forecast_for(settings, profile=history_profile(settings, history))
    units_cv, count_cv, utilisation = [], [], []
    with sim_runtime(
        settings, start, http=False, store=MemoryStateStore(cluster=settings.cluster), forecaster=forecaster
    ) as (rt, world, clock):
        run, outcome, now = Replay(trace, world, rt, clock), Outcome(), start
        while now <= end:
            run.step(now, outcome)
            enabled = {world.url_for(n): n for n in world.nodes}
            loads = world.server_units(lambda m, at=now: meeting_units(m, settings.weights, at))
            rows = []
            for entry in world.registry.values():
                name = enabled.get(entry.url)
                if entry.state == "enabled" and entry.load is not None and name in loads:
                    rows.append((loads[name][0], entry.load, loads[name][1]))
            if rows:
                mean_units = statistics.mean(r[0] for r in rows)
                if mean_units > 0.5 * statistics.mean(r[2] for r in rows):
                    units_cv.append(statistics.pstdev(r[0] for r in rows) / mean_units)
                    count_cv.append(
                        statistics.pstdev(r[1] for r in rows) / max(statistics.mean(r[1] for r in rows), 1)
                    )
                    utilisation.append(mean_units / statistics.mean(r[2] for r in rows))
            now += timedelta(minutes=1)
    return {
        "minutes": len(units_cv),
        "units_cv": statistics.median(units_cv),
        "units_cv_p90": sorted(units_cv)[int(0.9 * len(units_cv))],
        "count_cv": statistics.median(count_cv),
        "utilisation": statistics.median(utilisation),
    }


def plot_frontier(rows: list[dict], path: str) -> str:
    """Cost against the oracle over the overloaded share, one point per run, and the target box."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.add_patch(plt.Rectangle((0, 0), 0.1, 1.5, color="tab:green", alpha=0.25, label="issue 7's target"))
    perfect = [r for r in rows if r["forecast"] == "perfect"]
    ax.plot(
        [r["overload"] for r in perfect],
        [r["ratio"] for r in perfect],
        "o-",
        color="tab:blue",
        label="perfect forecast, headroom swept",
    )
    for r in perfect:
        ax.annotate(
            f"{r['headroom']:g} %", (r["overload"], r["ratio"]), textcoords="offset points", xytext=(6, 4)
        )
    shipped = [r for r in rows if r["forecast"] != "perfect"]
    ax.plot(
        [r["overload"] for r in shipped],
        [r["ratio"] for r in shipped],
        "s",
        color="tab:red",
        label="as shipped (learnt forecast, 20 %)",
    )
    ax.set_xlabel("overloaded server-minutes (% of server-minutes)")
    ax.set_ylabel("cost / oracle cost")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    ax.set_title("No headroom reaches the target, even knowing the future")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.6)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--plot", help="write the frontier as a PNG here")
    args = parser.parse_args()
    runs = [(args.scale, h, True) for h in HEADROOMS] + [(args.scale, 20.0, False)]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(replay, runs))
        placement = pool.submit(spread, args.scale).result()
    for row in rows:
        print(json.dumps(row))
    if args.plot:
        print("plot:", plot_frontier(rows, args.plot))
    print(json.dumps(placement))
    print(
        "\n| forecast | headroom | cost € | oracle € | cost/oracle | overloaded share | rejected | killed |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['forecast']} | {r['headroom']:g} % | {r['cost']:.0f} | {r['oracle']:.0f} | {r['ratio']:.2f}x | "
            f"{r['overload']:.2f} % | {r['rejected']} | {r['killed']} |"
        )
    print(
        f"\nPlacement spread over {placement['minutes']} busy minutes (median utilisation "
        f"{100 * placement['utilisation']:.0f} %): load units CV {100 * placement['units_cv']:.1f} % "
        f"(p90 {100 * placement['units_cv_p90']:.1f} %), Scalelite's own count CV {100 * placement['count_cv']:.1f} %."
    )


if __name__ == "__main__":
    main()
