"""The picture of a replay (PNG): load against the need and the serving capacity, servers per provider,
overloaded servers.

matplotlib is the `plot` extra (`pip install 'bbbscale[plot]'`), not a runtime dependency: Lambda and a
plain `run` never draw. `require_plot` says so in one line before any work is done, and that the
picture's folder is missing or not writable, rather than after a replay of minutes.
"""

from __future__ import annotations

import os
from datetime import timedelta, tzinfo
from pathlib import Path

from chalicelib.ports import BbbscaleError

MISSING = "plotting needs matplotlib: pip install 'bbbscale[plot]' (or pass --plot '' to skip the picture)"


def require_matplotlib() -> None:
    """Raise the one-line error (exit 1) when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise BbbscaleError(MISSING) from None


def require_plot(path: str) -> None:
    """Raise the one-line error (exit 1) when the picture could not be written: no matplotlib, or no
    writable folder where `path` puts it."""
    require_matplotlib()
    folder = Path(path).expanduser().absolute().parent
    if not folder.is_dir():
        raise BbbscaleError(f"cannot write the picture {path}: no folder {folder}")
    if not os.access(folder, os.W_OK):
        raise BbbscaleError(f"cannot write the picture {path}: {folder} is not writable")


def plot_samples(
    samples,
    path: str,
    title: str,
    tz: tzinfo | None = None,
    bottom_first: tuple[str, ...] = ("owned",),
    minutes=(),
) -> str:
    """Write a three-panel PNG and return its path.

    1. load units: the load (filled), the need with headroom the tick asked for (dashed), the capacity
       of the servers Scalelite places rooms on (green), and on top of it the capacity the burst guard
       holds out of placement for a few minutes (hatched: those servers still serve) and the draining
       servers' (grey) — drawn apart, never subtracted (`minutes`: bbbsim.minutes.Minute);
    2. running servers per provider, stacked, the always-on pool (`bottom_first`) at the bottom, and
       the servers desired;
    3. overloaded servers per provider each minute (rooms at real size).
    A replay longer than two days gets dates and weekdays on its axis, one tick a day."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    times = [s.at.astimezone(tz) if tz else s.at for s in samples]
    extra = {m.at: m for m in minutes}
    seen = sorted({p for s in samples for p in s.running} | {p for s in samples for p in s.desired})
    providers = [p for p in bottom_first if p in seen] + [p for p in seen if p not in bottom_first]
    fig, (top, middle, hot) = plt.subplots(3, 1, figsize=(13, 10), sharex=True, height_ratios=[3, 2, 1.4])
    load = [s.load_units for s in samples]
    enabled = [s.capacity_units for s in samples]
    top.fill_between(times, load, color="tab:red", alpha=0.25, linewidth=0, label="load")
    top.plot(times, load, color="tab:red", linewidth=1.2)
    top.plot(
        times, enabled, color="tab:green", linewidth=1.4, label="serving capacity (enabled in Scalelite)"
    )
    if extra:
        guard = [e + getattr(extra.get(s.at), "guard_units", 0.0) for s, e in zip(samples, enabled)]
        drain = [g + getattr(extra.get(s.at), "draining_units", 0.0) for s, g in zip(samples, guard)]
        top.fill_between(
            times, enabled, guard, facecolor="none", edgecolor="tab:olive", hatch="///", linewidth=0,
            label="held out of placement by the burst guard (still serving its rooms)",
        )  # fmt: skip
        top.fill_between(times, guard, drain, color="tab:gray", alpha=0.35, linewidth=0, label="draining")
        needed = [getattr(extra.get(s.at), "needed_units", 0.0) for s in samples]
        if any(needed):
            top.plot(times, needed, color="black", linestyle="--", linewidth=1.1, label="need with headroom")
    top.set_ylabel("load units")
    stacked = drain if extra else enabled
    highest = max([*load, *stacked, *(getattr(m, "needed_units", 0.0) for m in minutes), 1.0])
    top.set_ylim(0, highest * 1.3)  # room for the legend above the curves
    top.set_title(title, fontsize="medium")
    top.legend(loc="upper left", fontsize="small", ncol=3)
    top.grid(alpha=0.3)
    stacks = [[s.running.get(p, 0) for s in samples] for p in providers]
    middle.stackplot(times, stacks, labels=[f"{p} running" for p in providers], alpha=0.8)
    middle.plot(times, [sum(s.desired.values()) for s in samples], color="black", linestyle="--",
                linewidth=1.1, label="desired (all providers)")  # fmt: skip
    middle.set_ylabel("servers")
    most = max([sum(s.running.values()) for s in samples] + [sum(s.desired.values()) for s in samples] + [1])
    middle.set_ylim(0, most * 1.3)
    middle.legend(loc="upper left", fontsize="small", ncol=4)
    middle.grid(alpha=0.3)
    by = [[getattr(s, "overloaded_by", {}).get(p, 0) for s in samples] for p in providers]
    labels = [f"{p} overloaded" for p in providers]
    if not any(any(row) for row in by):  # samples without the split: the total alone
        by, labels = [[s.overloaded for s in samples]], ["overloaded"]
    hot.stackplot(times, by, labels=labels, alpha=0.85)
    total = sum(s.overloaded for s in samples)
    running = sum(sum(s.running.values()) for s in samples)
    hot.set_ylabel("overloaded\nservers")
    hot.set_ylim(bottom=0, top=max(3, max((s.overloaded for s in samples), default=0)) * 1.5)
    hot.yaxis.set_major_locator(MaxNLocator(integer=True))
    hot.set_title(
        f"{total:,} overloaded server-minutes ({100 * total / max(running, 1):.2f} % of server-minutes, "
        "rooms at real size)",
        fontsize="small",
    )
    hot.legend(loc="upper left", fontsize="small", ncol=4)
    hot.grid(alpha=0.3)
    _time_axis(hot, times, tz, mdates)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _time_axis(axis, times, tz, mdates) -> None:
    """HH:MM for a day; for a longer replay, whole days from midnight to midnight, a line at each
    midnight and each day labelled at its noon (weekday and date), hours between."""
    span = (times[-1] - times[0]) if times else timedelta(0)
    if span <= timedelta(days=2):
        axis.xaxis.set_major_locator(mdates.AutoDateLocator(tz=tz, maxticks=14))
        axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
        axis.set_xlabel(f"{times[0]:%A %d %B %Y}" if times else "")
        return
    first = times[0].replace(hour=0, minute=0, second=0, microsecond=0)
    last = times[-1].replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    axis.set_xlim(first, last)
    axis.xaxis.set_major_locator(mdates.DayLocator(tz=tz))
    axis.xaxis.set_major_formatter(mdates.DateFormatter("", tz=tz))
    axis.xaxis.set_minor_locator(mdates.HourLocator(byhour=[12], tz=tz))
    axis.xaxis.set_minor_formatter(mdates.DateFormatter("%a %d %b", tz=tz))
    axis.tick_params(axis="x", which="minor", length=0, labelsize="medium")
    axis.tick_params(axis="x", which="major", length=8)
    for panel in axis.figure.axes:
        panel.grid(axis="x", which="major", alpha=0.6)
    axis.set_xlabel(
        f"local time ({getattr(tz, 'key', tz)}); nights and weekends skipped by the replay are drawn flat"
    )
