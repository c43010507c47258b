"""Issue 7's comparison: bbbscale vs reactive vs static vs the oracle, on a seed-shaped school week and on the
regional order's 80,000-user closure day, replayed through the real tick on the in-process simulated fleet.

    .venv/bin/python bench/simulate_policies.py [--out out/bench] [--scale 2.0] [--jobs 2]

Writes one plot per run and prints the Markdown table recorded in bench/README.md. The week is generated
at `--scale` times the seed's rooms (2.0: ~30,000 peak users, so the hourly hosters are needed at all;
at 1.0 the 96 owned servers carry the seed's real peak and the oracle costs nothing). bbbscale's
forecast learns from three earlier generated weeks (other seeds), as it would from its own history.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bbbsim.plot import plot_samples
from bbbsim.schoolday import generate_closure_day, generate_week
from bbbsim.simulate import simulate
from chalicelib.config_file import load_settings

MONDAY = date(2026, 11, 30)


def run_one(job: tuple) -> dict:
    """One policy on one scenario (a process of its own when run with --jobs)."""
    settings, name, trace, history, out, policy = job
    began = time.perf_counter()
    result = simulate(settings, trace, policy, history=history if policy == "bbbscale" else ())
    samples = result.pop("_samples")
    result["scenario"], result["wall_seconds"] = name, round(time.perf_counter() - began, 1)
    slug = name.replace(" ", "-")
    plot_samples(
        samples, str(out / f"{slug}-{policy}.png"), f"{name} — {policy}", ZoneInfo(settings.timezone)
    )
    print(json.dumps(result), flush=True)
    return result


def jobs_for(settings, name, trace, history, out: Path) -> list[tuple]:
    """The three policies' runs of one scenario, for run_one."""
    return [(settings, name, trace, history, out, policy) for policy in ("bbbscale", "reactive", "static")]


def table(rows: list[dict]) -> str:
    head = (
        "| scenario | policy | server-hours | cost € | oracle h | oracle € | cost/oracle | overloaded "
        "server-min (share) | rejected | killed | peak users | peak servers | wall s |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        share = 100.0 * r["overloaded_server_minutes"] / max(r["server_minutes"], 1)
        ratio = f"{r['cost'] / r['oracle_cost']:.2f}x" if r["oracle_cost"] else "n/a"
        lines.append(
            f"| {r['scenario']} | {r['policy']} | {r['server_hours']:,.0f} | {r['cost']:,.0f} | "
            f"{r['oracle_server_hours']:,.0f} | {r['oracle_cost']:,.0f} | {ratio} | "
            f"{r['overloaded_server_minutes']:,} ({share:.2f}%) | {r['rejected_meetings']} | "
            f"{r['killed_meetings']} | {r['peak_users']:,} | {r['peak_servers']} | {r['wall_seconds']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/bench")
    parser.add_argument("--scale", type=float, default=2.0)
    parser.add_argument("--skip-closure", action="store_true")
    parser.add_argument(
        "--jobs", type=int, default=2, help="replays run side by side (wall times then share the CPUs)"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = load_settings()
    week = generate_week(MONDAY, seed=7, scale=args.scale)
    history = [generate_week(MONDAY - timedelta(weeks=w), seed=7 + w, scale=args.scale) for w in (1, 2, 3)]
    jobs = jobs_for(settings, f"school week x{args.scale:g}", week, history, out)
    if not args.skip_closure:
        day = MONDAY + timedelta(days=1)
        closure = generate_closure_day(day, seed=8)
        jobs += jobs_for(settings, "closure day 80k", closure, [], out)
    with ProcessPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        rows = list(pool.map(run_one, jobs))
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
