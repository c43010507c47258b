"""The picture of a replay: load against capacity over time, and servers per provider (PNG)."""

from __future__ import annotations

from datetime import tzinfo


def plot_samples(samples, path: str, title: str, tz: tzinfo | None = None) -> str:
    """Write a two-panel PNG: load vs serving capacity (and desired capacity), then running servers per
    provider stacked. Returns the path. matplotlib is imported here only (not needed on Lambda)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    times = [s.at.astimezone(tz) if tz else s.at for s in samples]
    providers = sorted({p for s in samples for p in s.running} | {p for s in samples for p in s.desired})
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=[3, 2])
    top.plot(times, [s.load_units for s in samples], color="tab:red", label="load (units)")
    top.plot(times, [s.capacity_units for s in samples], color="tab:green", label="serving capacity (units)")
    top.fill_between(times, [s.load_units for s in samples], color="tab:red", alpha=0.15)
    over = [t for t, s in zip(times, samples) if s.overloaded]
    if over:
        top.scatter(over, [0] * len(over), marker="|", color="black", label="overloaded server(s)")
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
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
