"""The replay's picture reads: a day's axis in HH:MM with the date under it, a week's axis with each day
named (weekday and date) between midnight lines, and a PNG written (bbbsim/plot.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bbbsim.minutes import Minute
from bbbsim.plot import _time_axis, plot_samples
from bbbsim.replay import Sample

matplotlib = pytest.importorskip("matplotlib", reason="the plot extra is not installed")
PARIS = ZoneInfo("Europe/Paris")


def labels(times, which: str) -> list[str]:
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots()
    axis.plot(times, range(len(times)))
    _time_axis(axis, times, PARIS, mdates)
    fig.canvas.draw()
    found = [t.get_text() for t in axis.get_xticklabels(minor=which == "minor") if t.get_text()]
    plt.close(fig)
    return found


def test_a_week_names_each_day_and_a_day_shows_hours():
    week = [datetime(2026, 11, 23, 7, tzinfo=PARIS) + timedelta(hours=h) for h in range(5 * 24 - 12)]
    assert labels(week, "minor") == ["Mon 23 Nov", "Tue 24 Nov", "Wed 25 Nov", "Thu 26 Nov", "Fri 27 Nov"]
    day = [datetime(2026, 11, 30, 7, 15, tzinfo=PARIS) + timedelta(minutes=m) for m in range(145)]
    hours = labels(day, "major")
    assert "08:00" in hours and all(len(h) == 5 and h[2] == ":" for h in hours)


def test_the_picture_is_written_with_the_guards_share_apart(tmp_path):
    t0 = datetime(2026, 11, 30, 8, tzinfo=PARIS)
    samples = [
        Sample(t0 + timedelta(minutes=i), 100, 10, 200.0 + i, 600.0 - 10 * i, {"owned": 2}, {"owned": 2},
               {"owned": 2}, int(i > 5), {"owned": int(i > 5)})
        for i in range(10)
    ]  # fmt: skip
    minutes = [Minute(s.at, 400.0, 10.0 * i, 0.0) for i, s in enumerate(samples)]
    path = plot_samples(samples, str(tmp_path / "p.png"), "a test", PARIS, minutes=minutes)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
