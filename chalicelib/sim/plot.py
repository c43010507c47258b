"""The picture of a replay: load against capacity over time, and servers per provider (PNG)."""

from __future__ import annotations

from datetime import tzinfo


def plot_samples(
    samples, path: str, title: str, tz: tzinfo | None = None, bottom_first: tuple[str, ...] = ("owned",)
) -> str:
    """Write a three-panel PNG: load vs serving capacity (and desired capacity); running servers per
    provider stacked, the always-on pool (`bottom_first`) at the bottom; then how many servers are
    overloaded each minute (at real room size), per provider. Returns the path. matplotlib is imported
    here only (not needed on Lambda)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    times = [s.at.astimezone(tz) if tz else s.at for s in samples]
    seen = sorted({p for s in samples for p in s.running} | {p for s in samples for p in s.desired})
    providers = [p for p in bottom_first if p in seen] + [p for p in seen if p not in bottom_first]
    fig, (top, bottom, hot) = plt.subplots(3, 1, figsize=(11, 9), sharex=True, height_ratios=[3, 2, 1.4])
    top.plot(times, [s.load_units for s in samples], color="tab:red", label="load (units)")
    top.plot(times, [s.capacity_units for s in samples], color="tab:green", label="serving capacity (units)")
    top.fill_between(times, [s.load_units for s in samples], color="tab:red", alpha=0.15)
    top.set_ylabel("load units")
    top.set_title(title)
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    stacks = [[s.running.get(p, 0) for s in samples] for p in providers]
    bottom.stackplot(times, stacks, labels=[f"{p} running" for p in providers], alpha=0.8)
    desired_total = [sum(s.desired.values()) for s in samples]
    bottom.plot(times, desired_total, color="black", linestyle="--", label="desired (all providers)")
    bottom.set_ylabel("servers")
    bottom.legend(loc="upper left", fontsize="small")
    bottom.grid(alpha=0.3)
    by = [[getattr(s, "overloaded_by", {}).get(p, 0) for s in samples] for p in providers]
    if not any(any(row) for row in by):  # samples without the split: the total alone
        by, labels = [[s.overloaded for s in samples]], ["overloaded"]
    else:
        labels = [f"{p} overloaded" for p in providers]
    hot.stackplot(times, by, labels=labels, alpha=0.85)
    total = sum(s.overloaded for s in samples)
    running = sum(sum(s.running.values()) for s in samples)
    hot.set_ylabel("overloaded\nservers")
    hot.set_title(
        f"{total:,} overloaded server-minutes ({100 * total / max(running, 1):.2f} % of server-minutes, "
        "rooms at real size)",
        fontsize="small",
    )
    hot.legend(loc="upper left", fontsize="small")
    hot.grid(alpha=0.3)
    hot.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
