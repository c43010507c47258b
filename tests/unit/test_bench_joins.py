"""The real bench's pupils (bench/real_scalelite_bursts.py `Joins`): each join is sent at its own time,
while the burst's later rooms are still being created, not once every room is; `finish` returns once
every join is sent, none before its time."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.support.bench_scripts import load_bench


def _bench():
    return load_bench("real_scalelite_bursts")


def test_each_join_goes_at_its_time_while_rooms_are_still_being_created():
    sent: list[tuple[float, str]] = []
    lock = threading.Lock()

    def join(meeting_id: str) -> None:
        with lock:
            sent.append((time.monotonic(), meeting_id))

    with ThreadPoolExecutor(max_workers=4) as pool:
        pupils = _bench().Joins(pool, join)
        t0 = time.monotonic()
        pupils.add("first", [t0 + 0.30, t0 + 0.10])
        time.sleep(0.25)  # the burst's next room comes later; one of the first room's pupils is in
        with lock:
            early = [m for _, m in sent]
        pupils.add("second", [t0 + 0.35, t0 + 0.05])  # one already due: sent at once
        pupils.finish()
        pool.shutdown(wait=True)
    assert early == ["first"]
    assert sorted(m for _, m in sent) == ["first", "first", "second", "second"]
    first = sorted(t - t0 for t, m in sent if m == "first")
    second = sorted(t - t0 for t, m in sent if m == "second")
    assert first[0] >= 0.1 and first[1] >= 0.3 and second[1] >= 0.35  # none before its time
    assert second[0] >= 0.25  # already due when its room came: sent then (at once, not at finish)
    assert first[1] < 1.0 and second[1] < 1.0  # and not long after (a loaded machine has some slack)


def test_finish_with_nothing_scheduled_returns():
    with ThreadPoolExecutor(max_workers=1) as pool:
        pupils = _bench().Joins(pool, lambda _: None)
        pupils.finish()
        assert not pupils._thread.is_alive()
