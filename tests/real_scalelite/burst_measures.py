"""What bench/real_scalelite_bursts.py measures, apart from how it drives the burst: the guard's changes
against Scalelite's placement set, flaps (of its updateServer calls, and of its decisions),
server-seconds placeable while the guard had a server cordoned, and when the poll rounds saved (pure
functions over the samples, tested in tests/real_scalelite/test_burst_measures.py)."""

from __future__ import annotations

import threading
import time

FLAP_S = 3.0  # a cordon, an enable and a cordon again of one server within this: a flap


class Watch:
    """Samples Scalelite's placement set (`fleet.scalelite.placement()`) against the guard's own cordons
    (`record`, called for each updateServer the guard sends) every `step` seconds, and notes when the
    poller's log shows it saved servers since the last sample (`saves`: see `rounds`)."""

    def __init__(self, fleet, step: float = 0.2):
        self.fleet, self.step = fleet, step
        self.actions: list[tuple[float, str, str]] = []  # (when, server id, state) the guard sent
        self.decisions: list[tuple[float, str, str]] = []  # (when, server id, cordon|enable|recordon)
        self.cordoned: set[str] = set()
        self.samples: list[tuple[float, set[str]]] = []  # (when, ids placeable while guard-cordoned)
        self.operator: str | None = None  # the server an operator disabled: is it still placeable?
        self.operator_placeable: list[tuple[float, bool]] = []
        self.saves: list[float] = []  # when a sample found the poller had saved servers since the last
        self._log_at = fleet.scalelite.poller_log_size()  # the saves before the watch are not its
        self.stop = threading.Event()

    def record(self, server_id: str, state: str) -> None:
        self.actions.append((time.monotonic(), server_id, state))
        if state == "cordon":
            self.cordoned.add(server_id)
        else:
            self.cordoned.discard(server_id)

    def decided(self, server_id: str, action: str) -> None:
        """One of the guard's decisions as it made it: a repair (`recordon`) is one decision, though
        it is two updateServer calls (enable, then cordon)."""
        self.decisions.append((time.monotonic(), server_id, action))

    def run(self) -> None:
        while not self.stop.wait(self.step):
            try:
                placeable = set(self.fleet.scalelite.placement())
            except OSError:
                continue
            self.samples.append((time.monotonic(), placeable & set(self.cordoned)))
            scalelite = self.fleet.scalelite
            size = scalelite.poller_log_size()
            if size != self._log_at:
                if scalelite.saved_since(self._log_at):
                    self.saves.append(time.monotonic())
                self._log_at = size
            if self.operator is not None:
                self.operator_placeable.append((time.monotonic(), self.operator in placeable))


def flaps(actions: list[tuple[float, str, str]]) -> list[tuple[float, str]]:
    """(when, server id) of each cordon that followed a cordon and an enable of the same server in 3 s."""
    return _cordoned_again(actions, ("cordon",))


def flaps_by_choice(decisions: list[tuple[float, str, str]]) -> list[tuple[float, str]]:
    """(when, server id) of each cordon the guard chose within 3 s of cordoning the same server (or
    repairing its cordon) and enabling it again: the issue's flap (a server reopened, the next room
    re-cordons it). A repair's own enable then cordon (`recordon`, the one sequence that takes a server
    whose cordon a poll undid out of Scalelite's placement) is not one: `flaps` counts it."""
    return _cordoned_again(decisions, ("cordon", "recordon"))


def _cordoned_again(events: list[tuple[float, str, str]], first: tuple[str, ...]) -> list[tuple[float, str]]:
    """(when, server id) of each cordon after an event in `first` and an enable of that server, the
    three within `FLAP_S`."""
    by_server: dict[str, list[tuple[float, str]]] = {}
    for at, server_id, what in events:
        by_server.setdefault(server_id, []).append((at, what))
    found = []
    for server_id, seq in by_server.items():
        for (t1, a), (_, b), (t3, c) in zip(seq, seq[1:], seq[2:]):
            if a in first and b == "enable" and c == "cordon" and t3 - t1 <= FLAP_S:
                found.append((t3, server_id))
    return found


def placeable_stats(samples, start: float, end: float, step: float) -> tuple[float, float]:
    """(server-seconds placeable while guard-cordoned in [start, end), longest stretch of one server)."""
    total, longest = 0.0, 0.0
    runs: dict[str, float] = {}
    for at, ids in samples:
        if not start <= at < end:
            continue
        total += step * len(ids)
        for server_id in ids:
            runs[server_id] = runs.get(server_id, 0.0) + step
            longest = max(longest, runs[server_id])
        for server_id in list(runs):
            if server_id not in ids:
                del runs[server_id]
    return total, longest


ROUND_GAP_S = 2.0  # saves further apart than this are two poll rounds (a round of 10 servers: ~1 s)


def rounds(saves: list[float], start: float, end: float, origin: float) -> list[float]:
    """When each poll round that began saving within [`start`, `end`) did, in seconds after `origin`:
    the first save moment of each run of saves less than `ROUND_GAP_S` apart."""
    found, last = [], None
    for at in sorted(saves):
        if (last is None or at - last > ROUND_GAP_S) and start <= at < end:
            found.append(round(at - origin, 1))
        last = at
    return found
