"""The cost/overload frontier with and without the burst guard, at Scalelite poll intervals of 60, 10 and
5 s (issue 11), on the faithful simulator: overload counted at real room size.

Scenarios (generated, one school: class rooms recur weekly under their meeting_id):
- `day`: a normal Tuesday at 1.6x the seed's rooms, the forecast and the room sizes learnt from the
  three Tuesdays before (headroom sweep 10/20/35 % x guard off/on x poll 60/10/5 s);
- `week`: bench/surge_week.py's week at 1.2x whose Tuesday starts at half past and whose Thursday
  doubles, neither announced; history three normal weeks (headroom 20 % x guard off/on x poll 60/10/5 s,
  and `reactive`), and with no history at all (guard off/on, poll 60 s);
- `other`: the same kind of week on another seed (11), no history, as a user would first try it;
- `closure`: the regional order's 80,000-user day, the history three normal Tuesdays (20 %, guard
  off/on, poll 60 s).

    .venv/bin/python bench/guard_frontier.py [--out out/guard] [--only day,week,closure] [--quick]
        [--scale 1] [--plots bench/plots]

`--scale` multiplies every scenario's rooms (the test of the documented commands runs a small day).

One replay at a time (the build box is shared). Each result is appended to OUT/results.jsonl as it
comes, and a run already there is not replayed again (so the script can be stopped and resumed).
Prints the Markdown tables recorded in bench/README.md and writes bench/plots/guard-frontier.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bbbsim.plot import plot_samples  # noqa: E402
from bbbsim.schoolday import generate_closure_day, generate_day, generate_week  # noqa: E402
from bbbsim.simulate import simulate  # noqa: E402
from chalicelib.config_file import load_settings  # noqa: E402

MONDAY = date(2026, 11, 30)
TUESDAY = MONDAY + timedelta(days=1)
HERE = Path(__file__).resolve().parent


def scenarios(only: set[str], quick: bool, scale: float = 1.0) -> list[tuple[str, list, list, list[dict]]]:
    """(name, trace, history, runs): each run is {"headroom", "guard", "poll", "policy"}."""
    out = []
    polls = (60.0,) if quick else (60.0, 10.0, 5.0)
    if "day" in only:
        trace = generate_day(TUESDAY, seed=11, scale=1.6 * scale)
        history = [
            generate_day(TUESDAY - timedelta(weeks=w), seed=11 + w, scale=1.6 * scale) for w in (1, 2, 3)
        ]
        runs = [
            {"headroom": h, "guard": g, "poll": p, "policy": "bbbscale"}
            for p in polls
            for h in ((20.0,) if quick else (10.0, 15.0, 20.0, 35.0))
            for g in (False, True)
        ]
        runs.append({"headroom": 20.0, "guard": False, "poll": 60.0, "policy": "reactive"})
        out.append(("day", trace, history, runs))
    if "week" in only:
        # bench/surge_week.py's week (issue 11, scope 4): 1.2x the seed's rooms, Tuesday at half past,
        # Thursday doubled, neither announced; with three normal weeks of history, and with none
        from surge_week import surge_week

        trace = surge_week(1.2 * scale, seed=7)
        history = [
            generate_week(MONDAY - timedelta(weeks=w), seed=7 + w, scale=1.2 * scale) for w in (1, 2, 3)
        ]
        runs = [
            {"headroom": 20.0, "guard": g, "poll": p, "policy": "bbbscale"}
            for p in polls
            for g in (False, True)
        ]
        runs.append({"headroom": 20.0, "guard": False, "poll": 60.0, "policy": "reactive"})
        out.append(("week", trace, history, runs))
        runs = [{"headroom": 20.0, "guard": g, "poll": 60.0, "policy": "bbbscale"} for g in (False, True)]
        out.append(("week, no history", trace, [], runs))
    if "other" in only:  # a week no test has seen: another seed, no history (as a user would try it)
        from surge_week import surge_week

        runs = [{"headroom": 20.0, "guard": g, "poll": 60.0, "policy": "bbbscale"} for g in (False, True)]
        runs.append({"headroom": 20.0, "guard": False, "poll": 60.0, "policy": "reactive"})
        out.append(("week seed 11, no history", surge_week(1.2 * scale, seed=11), [], runs))
    if "closure" in only:
        trace = generate_closure_day(TUESDAY, seed=5, peak_users=round(80_000 * scale))
        history = [
            generate_day(TUESDAY - timedelta(weeks=w), seed=11 + w, scale=1.6 * scale) for w in (1, 2, 3)
        ]
        runs = [{"headroom": 20.0, "guard": g, "poll": 60.0, "policy": "bbbscale"} for g in (False, True)]
        out.append(("closure", trace, history, runs))
    return out


def key(name: str, run: dict) -> str:
    return f"{name}|{run['policy']}|h{run['headroom']:g}|{'guard' if run['guard'] else 'noguard'}|p{run['poll']:g}"


def replay(settings, name: str, trace, history, run: dict, plots: Path | None) -> dict:
    s = settings.model_copy(
        update={
            "headroom": settings.headroom.model_copy(update={"percent": run["headroom"]}),
            "guard": settings.guard.model_copy(update={"enabled": run["guard"]}),
        }
    )
    began = time.perf_counter()
    result = simulate(
        s,
        trace,
        run["policy"],
        history=history if run["policy"] == "bbbscale" else (),
        poll_interval=run["poll"],
    )
    samples = result.pop("_samples")
    result.update(run, scenario=name, key=key(name, run), wall_seconds=round(time.perf_counter() - began, 1))
    if plots is not None and run["policy"] == "bbbscale" and run["headroom"] == 20.0 and run["poll"] == 60.0:
        guard = "guard-on" if run["guard"] else "guard-off"
        plot_samples(
            samples,
            str(plots / f"{name.replace(', ', '-').replace(' ', '-')}-{guard}.png"),
            f"{name}: bbbscale, {guard}, Scalelite poll 60 s",
            ZoneInfo(settings.timezone),
        )
    return result


def table(rows: list[dict]) -> str:
    lines = [
        "| scenario | policy | headroom | guard | poll s | cost € | cost/oracle | overloaded share | "
        "rejected | killed | refused joins | wall s |",
        "|" + "---|" * 12,
    ]
    for r in rows:
        ratio = f"{r['cost'] / r['oracle_cost']:.2f}x" if r["oracle_cost"] else "n/a"
        lines.append(
            f"| {r['scenario']} | {r['policy']} | {r['headroom']:g} % | {'on' if r['guard'] else 'off'} | "
            f"{r['poll']:g} | {r['cost']:,.0f} | {ratio} | {100 * r['overloaded_share']:.2f} % | "
            f"{r['rejected_meetings']} | {r['killed_meetings']} | {r['refused_joins']} | {r['wall_seconds']} |"
        )
    return "\n".join(lines)


def frontier_plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, scenario in zip(axes, ("day", "week")):
        for guard, marker in ((False, "o"), (True, "^")):
            for poll, color in ((60.0, "tab:red"), (10.0, "tab:orange"), (5.0, "tab:green")):
                pts = sorted(
                    (r["cost"], 100 * r["overloaded_share"], r["headroom"])
                    for r in rows
                    if r["scenario"] == scenario
                    and r["policy"] == "bbbscale"
                    and r["guard"] == guard
                    and r["poll"] == poll
                )
                if pts:
                    ax.plot(
                        [p[0] for p in pts],
                        [p[1] for p in pts],
                        marker=marker,
                        color=color,
                        linestyle="-" if guard else ":",
                        label=f"guard {'on' if guard else 'off'}, poll {poll:g} s",
                    )
                    for c, o, h in pts:
                        ax.annotate(f"{h:g}%", (c, o), fontsize=7, xytext=(3, 3), textcoords="offset points")
        for r in rows:
            if r["scenario"] == scenario and r["policy"] == "reactive":
                ax.scatter(
                    [r["cost"]], [100 * r["overloaded_share"]], marker="x", color="black", label="reactive"
                )
        ax.set_title(scenario)
        ax.set_xlabel("cost €")
        ax.set_ylabel("overloaded server-minutes (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/guard")
    parser.add_argument("--only", default="day,week,closure")
    parser.add_argument("--quick", action="store_true", help="poll 60 s and headroom 20 %% only")
    parser.add_argument("--scale", type=float, default=1.0, help="every scenario's rooms x this")
    parser.add_argument("--plots", default=str(HERE / "plots"), help="where the pictures go")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done_path = out / "results.jsonl"
    done = {}
    if done_path.exists():
        for line in done_path.read_text().splitlines():
            row = json.loads(line)
            done[row["key"]] = row
    settings = load_settings()
    plots = Path(args.plots)
    plots.mkdir(parents=True, exist_ok=True)
    for name, trace, history, runs in scenarios(set(args.only.split(",")), args.quick, args.scale):
        for run in runs:
            if key(name, run) in done:
                continue
            row = replay(settings, name, trace, history, run, plots)
            done[row["key"]] = row
            with done_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                f"{row['key']}: cost {row['cost']} overload {100 * row['overloaded_share']:.2f} % "
                f"refused {row['refused_joins']} killed {row['killed_meetings']} ({row['wall_seconds']} s)",
                file=sys.stderr,
                flush=True,
            )
    rows = sorted(
        done.values(), key=lambda r: (r["scenario"], r["policy"], r["poll"], r["headroom"], r["guard"])
    )
    print(table(rows))
    frontier_plot(rows, plots / "guard-frontier.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
