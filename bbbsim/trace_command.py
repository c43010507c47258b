"""`bbbscale trace`: write seed-shaped school traces for `simulate` (docs/contract.md "Trace files"), so
the installed package can replay a week without this repository's bench/ (bench/make_traces.py is this
same generator).

Every trace is generated from the seed (bbbsim/schoolday.py), reproducible from `--seed` and
`--monday`; `--scale` multiplies the rooms of every trace (0.1: a small school that the owned pool
carries alone).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from bbbsim.schoolday import generate_closure_day, generate_day, generate_week
from bbbsim.traces import TraceMeeting, trace_figures, write_trace

DEFAULT_MONDAY = date(2026, 11, 23)  # a Monday of term in zone B
#: The largest --scale: ten times the seed's region (150,000 simultaneous users, a closure day for
#: 800,000); beyond it a trace is gigabytes that no replay here could run.
MAX_SCALE = 10.0


def trace_jobs(monday: date, seed: int, scale: float = 1.0) -> dict[str, Callable[[], list[TraceMeeting]]]:
    """The traces by file name, each a generator to call (all of them, or the ones `--only` names)."""
    if monday.weekday() != 0:
        raise ValueError(f"--monday {monday.isoformat()} is not a Monday")
    if not 1971 <= monday.year <= 2999:
        raise ValueError(f"--monday {monday.isoformat()} is not in the years 1971-2999")
    if not 0 < scale <= MAX_SCALE:
        raise ValueError(
            f"--scale must be > 0 and at most {MAX_SCALE:g} (the seed's region x {MAX_SCALE:g}), got {scale}"
        )
    return {
        "day.csv": lambda: generate_day(monday, seed, scale=scale),
        "week.csv": lambda: generate_week(monday, seed, scale=scale),
        "week-30k.csv": lambda: generate_week(monday, seed, scale=1.6 * scale),
        "closure-day.csv": lambda: generate_closure_day(monday + timedelta(days=1), seed, 80_000 * scale),
        "week-half-past.csv": lambda: generate_week(monday, seed, scale=scale, variant="half-past"),
        "week-friday-surge.csv": lambda: generate_week(monday, seed, scale=scale, variant="friday-surge"),
        # issue 11: Tuesday's classes start 90 min late and Thursday doubles, neither announced
        "week-surprises.csv": lambda: generate_week(
            monday,
            seed,
            scale=1.6 * scale,
            shifts={monday + timedelta(days=1): 90},
            day_scale={monday + timedelta(days=3): 2.0},
        ),
        # the three weeks before at 1.6x (same school: the same rooms), for --history
        **{f"history-{w}.csv": _history(monday, seed, scale, w) for w in (1, 2, 3)},
    }


def _history(monday: date, seed: int, scale: float, weeks: int) -> Callable[[], list[TraceMeeting]]:
    """The generator of the week `weeks` before `monday` (seed + weeks, at 1.6x)."""
    return lambda: generate_week(monday - timedelta(weeks=weeks), seed + weeks, scale=1.6 * scale)


def write_traces(out: Path, monday: date, seed: int, scale: float = 1.0, only=()) -> dict[str, dict]:
    """Write the traces (those named in `only`, else all) into `out`; their figures by file name."""
    jobs = trace_jobs(monday, seed, scale)
    unknown = sorted(set(only) - set(jobs))
    if unknown:
        raise ValueError(f"unknown trace {', '.join(unknown)}; choose among: {', '.join(jobs)}")
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, job in jobs.items():
        if only and name not in only:
            continue
        started = time.perf_counter()
        meetings = job()
        generated = time.perf_counter() - started
        write_trace(out / name, meetings)
        f = trace_figures(meetings)
        written[name] = {
            "path": str(out / name),
            "sessions": f.sessions,
            "peak_users": f.peak_users,
            "peak_rooms": f.peak_rooms,
            "peak_webcams": f.peak_webcams,
            "peak_mics": f.peak_mics,
            "rooms": f.rooms,
            "seconds": round(generated, 2),
        }
    return written


def trace_line(name: str, f: dict) -> str:
    """One trace's figures, one line (stderr for bench/make_traces.py, stdout for `bbbscale trace`)."""
    return (
        f"{name:24} {f['sessions']:>6} sessions  generated in {f['seconds']:5.2f} s  peak {f['peak_users']:,} "
        f"users {f['peak_rooms']:,} rooms {f['peak_webcams']:,} webcams {f['peak_mics']:,} mics  "
        f"{f['rooms']:,} rooms"
    )


def trace_command(args, emit) -> int:
    """The CLI entry (`bbbscale trace`): write, then `emit(document, human)` (JSON or one line per
    trace). A bad --monday, --scale or --only raises ValueError (bad usage)."""
    from chalicelib.ports import BbbscaleError

    try:
        written = write_traces(
            Path(args.out), args.monday or DEFAULT_MONDAY, args.seed, args.scale, args.only or ()
        )
    except OSError as error:
        raise BbbscaleError(f"cannot write {args.out}: {error.strerror}") from None
    emit(
        {"out": args.out, "traces": written},
        lambda d: print("\n".join(trace_line(n, f) + f"  -> {f['path']}" for n, f in d["traces"].items())),
    )
    return 0
