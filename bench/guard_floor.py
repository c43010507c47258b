"""Benchmark (a model, no network): how evenly could any cordon-threshold guard spread the real bench's
class change, however well it knew the rooms? The floor under issue 19's rooms CV target.

The burst is bench/real_scalelite_bursts.py's: 9 serving servers (10, one disabled by the operator),
each with 2-4 older rooms of 20-30 users; 45 rooms of 15-30 users created at uniform times over
`SPREAD_S` (or `--spread`, as the real bench's), each teacher joining at once and the pupils over
1-`JOIN_S` s. Scalelite places as v1.6.1 does (app/models/server.rb `Server.find_available`,
`increment_load`; the poller in lib/tasks/poll.rake): each create goes to the lowest load in its
placement set; the create adds 1, the teacher's join 1, each pupil's join 1; a cordoned server leaves
the set and its load stays frozen (joins increment only members of the set). At the bell the loads are
the poller's figure (users, the moderator counted twice) either *fresh* (a poll round after the last
lesson's rooms ended) or *stale* (no round since: they still count the ended lesson's 3-7 rooms on each
server).

The guard is all-knowing: at each look it knows every server's rooms exactly, and the burst's size (as
a forecast would tell it; the real bench's guard has none). It looks every `cycle` seconds, its cordons
take effect `lag` seconds after what it saw, and it cordons a server once its rooms plus `slack` reach
the even share of all the rooms (older and new), never leaving fewer than `min_open` servers placeable
(bbbscale's `min_enabled`, 2: the issue's "never fewer placeable servers than the burst needs"). Each
setting is run with every `slack` of `SLACKS` on the same bursts and the best mean is kept, so each row
is the best this rule can do. The real guard knows less (no forecast; the rooms it reads are a look
old; the pupils' joins come as they come), so its figures lie above these. A rule that is no threshold,
*steering*, is run beside it: at each look only the `min_open` servers with the fewest rooms stay
placeable, a held server enabled again once it is among them (its frozen load back in the set). Each
row counts its flaps as the real bench does (a cordon, an enable and a cordon of one server within 3 s).

*Quick looks* (the lever issue 19's notes left unbuilt): the same share rule, knowing the rooms only at
its reads (every `cycle`: each server's getMeetings), and between them looking every `QUICK_S` at
Scalelite's loads alone (getServers, ~10 ms on the real bench), acting `QUICK_LAG_S` later. There it
infers each server's rooms: those of its last read, plus half of what its load rose by since that read
beyond its pupils' pace (the pupils the load gained between its last two reads, per second, less the
+2 of each room the reads saw arrive). It never knows a room it did not read, only a load that rose.

    .venv/bin/python bench/guard_floor.py            # ~90 s
    .venv/bin/python bench/guard_floor.py --quick    # seconds: fewer bursts and cadences
    .venv/bin/python bench/guard_floor.py --quick --spread 16   # creates over 16 s, not 8
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
from dataclasses import dataclass, field

SERVERS = 9  # the bench's 10 servers, one disabled by the operator before the second burst
ROOMS = 45
SPREAD_S = 8.0  # bench/real_scalelite_bursts.py: a burst's creates come over this many seconds
JOIN_S = 30.0  # and its pupils over this many seconds after their room's create
FLAP_S = 3.0
SLACKS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
#: (look cycle, lag) in seconds. The real guard on the bench: a look every 0.37 s (median, the look
#: itself 0.32 s, of which the parallel getMeetings 0.31 s), acting ~0.03 s after its reads answered.
CADENCES = ((0.38, 0.03), (0.25, 0.03), (0.1, 0.02), (0.05, 0.01))
QUICK_CADENCES = ((0.38, 0.03), (0.05, 0.01))
#: getServers-only looks between the reads: every QUICK_S, acting QUICK_LAG_S after (rule "quick").
QUICK_S, QUICK_LAG_S = 0.05, 0.01
LABELS = {
    "share": "all-knowing, cordon at the share",
    "steer": "all-knowing, steer: only the fewest-roomed placeable",
    "quick": f"rooms read at each look, cordon at the share; getServers looks every {QUICK_S} s between",
}


@dataclass
class Placement:
    """Scalelite's placement set and loads: the lowest load takes each create."""

    load: list[float]
    placeable: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.placeable = self.placeable or [True] * len(self.load)

    def create(self) -> int | None:
        """The server a create lands on (None: the set is empty, Scalelite rejects it); the create and
        its teacher's join each add 1."""
        open_ = [s for s, ok in enumerate(self.placeable) if ok]
        if not open_:
            return None
        server = min(open_, key=lambda s: (self.load[s], s))
        self.load[server] += 2
        return server

    def join(self, server: int) -> None:
        """A pupil's join: +1, only while the server is in the set (a cordoned one's load is frozen)."""
        if self.placeable[server]:
            self.load[server] += 1


@dataclass(frozen=True)
class Burst:
    older: list[int]  # rooms per server before the bell
    loads: list[float]  # Scalelite's loads at the bell
    arrivals: list[float]  # when each new room is created, seconds after the bell
    joins: list[list[float]]  # when each new room's pupils join (all but its teacher), after its create


def make_burst(rng: random.Random, stale: bool, spread: float = SPREAD_S) -> Burst:
    older = [rng.randint(2, 4) for _ in range(SERVERS)]
    loads = [float(sum(rng.randint(20, 30) + 1 for _ in range(k))) for k in older]
    if stale:
        loads = [load + sum(rng.randint(15, 30) + 1 for _ in range(rng.randint(3, 7))) for load in loads]
    sizes = [rng.randint(15, 30) for _ in range(ROOMS)]
    arrivals = sorted(rng.uniform(0, spread) for _ in range(ROOMS))
    joins = [[rng.uniform(1, JOIN_S) for _ in range(size - 1)] for size in sizes]
    return Burst(older, loads, arrivals, joins)


@dataclass(frozen=True)
class Guard:
    rule: str  # "share": cordon at the even share | "quick": the same, rooms inferred between reads | "steer" | "none"
    cycle: float
    lag: float
    slack: float = 0.0
    min_open: int = 2

    def wanted(
        self, rooms: list[int], placeable: list[bool], total: int, loads: list[float]
    ) -> list[tuple[int, bool]]:
        """(server, placeable?) changes this look asks for."""
        if self.rule == "none":
            return []
        if self.rule == "steer":
            # keep placeable only the `min_open` servers with the fewest rooms (of equals, the one
            # Scalelite would pick first), cordon the others, and enable a held one once it is among them
            order = sorted(range(len(rooms)), key=lambda s: (rooms[s], loads[s], s))
            keep = set(order[: self.min_open])
            return [(s, s in keep) for s in range(len(rooms)) if placeable[s] != (s in keep)]
        share = total / len(rooms)
        return [(s, False) for s, n in enumerate(rooms) if placeable[s] and n + self.slack >= share]


@dataclass
class Outcome:
    rooms: list[int]
    rejected: int
    flaps: int = 0  # a server cordoned, enabled and cordoned again within FLAP_S (the real bench's count)

    @property
    def cv(self) -> float:
        return statistics.pstdev(self.rooms) / statistics.mean(self.rooms)


def run_burst(burst: Burst, guard: Guard) -> Outcome:
    scalelite = Placement(list(burst.loads))
    rooms = list(burst.older)
    total = sum(rooms) + len(burst.arrivals)
    pending: list[tuple[float, int, bool]] = []  # (takes effect at, server, placeable?)
    joins: list[tuple[float, int]] = []
    next_look, rejected = 0.0, 0
    changes: list[list[tuple[float, bool]]] = [[] for _ in rooms]
    for i, at in enumerate(burst.arrivals):
        while guard.rule != "none" and next_look <= at:
            # what the look knows now, acted on `lag` later
            pending += [
                (next_look + guard.lag, s, ok)
                for s, ok in guard.wanted(rooms, scalelite.placeable, total, scalelite.load)
            ]
            next_look += guard.cycle
        _settle(pending, at, scalelite, changes, guard.min_open)
        while joins and joins[0][0] <= at:
            scalelite.join(heapq.heappop(joins)[1])
        rejected += not _land(scalelite, rooms, joins, at, burst.joins[i])
    return Outcome(rooms, rejected, sum(_flaps(c) for c in changes))


def _settle(
    pending: list[tuple[float, int, bool]],
    at: float,
    scalelite: Placement,
    changes: list[list[tuple[float, bool]]],
    min_open: int,
) -> None:
    """Carry out the guard's changes due by `at`, each noted in its server's `changes`: a look's
    enables before its cordons, so that its cordons do not meet the safety rule (never fewer placeable
    servers than `min_open`)."""
    for change in sorted((c for c in pending if c[0] <= at), key=lambda c: (c[0], not c[2], c[1])):
        when, server, ok = change
        pending.remove(change)
        if ok == scalelite.placeable[server]:
            continue
        if not ok and sum(scalelite.placeable) <= min_open:
            continue
        scalelite.placeable[server] = ok
        changes[server].append((when, ok))


def _land(
    scalelite: Placement, rooms: list[int], joins: list[tuple[float, int]], at: float, delays: list[float]
) -> bool:
    """A room created at `at`: where Scalelite puts it, its pupils' joins queued; False if rejected."""
    server = scalelite.create()
    if server is None:
        return False
    rooms[server] += 1
    for delay in delays:
        heapq.heappush(joins, (at + delay, server))
    return True


def inferred_rooms(read_rooms: int, read_load: float, load: float, pace: float, since: float) -> float:
    """A quick look's rooms on one server: those of its last read, plus half of what its load rose by
    since (a create and its teacher's join: +2) beyond its pupils' pace; never fewer than read."""
    return read_rooms + max(0.0, (load - read_load - pace * since) / 2)


def run_burst_quick(burst: Burst, guard: Guard) -> Outcome:
    """The share rule with the rooms read every `guard.cycle` and, between the reads, looks at
    Scalelite's loads alone every QUICK_S (`inferred_rooms`). Cordons only, as the share rule."""
    scalelite = Placement(list(burst.loads))
    rooms = list(burst.older)
    share = (sum(rooms) + len(burst.arrivals)) / len(rooms)
    events: list[tuple[float, int, int]] = [(at, 1, i) for i, at in enumerate(burst.arrivals)]
    steps = round(guard.cycle / QUICK_S)
    look = 0
    while look * QUICK_S <= burst.arrivals[-1]:
        events.append((look * QUICK_S, 0, look % steps))  # 0: a read; else a quick look
        look += 1
    events.sort(key=lambda e: (e[0], e[1]))
    joins: list[tuple[float, int]] = []
    pending: list[tuple[float, int, bool]] = []  # (takes effect at, server, placeable?): cordons only
    changes: list[list[tuple[float, bool]]] = [[] for _ in rooms]
    read: tuple[float, list[int], list[float]] | None = None
    pace = [0.0] * len(rooms)  # pupils' joins per second on each server, from its last two reads
    rejected = 0
    for at, kind, what in events:
        while joins and joins[0][0] <= at:
            scalelite.join(heapq.heappop(joins)[1])
        _settle(pending, at, scalelite, changes, guard.min_open)
        if kind == 0 and what == 0:  # a read: every server's rooms, and Scalelite's loads
            before, read = read, (at, list(rooms), list(scalelite.load))
            if before is not None:
                for s in range(len(rooms)):
                    pupils = read[2][s] - before[2][s] - 2 * (read[1][s] - before[1][s])
                    pace[s] = max(0.0, pupils) / (at - before[0])
            known = rooms
            lag = guard.lag
        elif kind == 0:  # a quick look: Scalelite's loads alone
            assert read is not None
            known = [
                inferred_rooms(read[1][s], read[2][s], scalelite.load[s], pace[s], at - read[0])
                for s in range(len(rooms))
            ]
            lag = QUICK_LAG_S
        else:
            rejected += not _land(scalelite, rooms, joins, at, burst.joins[what])
            continue
        pending += [
            (at + lag, s, False)
            for s in range(len(rooms))
            if scalelite.placeable[s] and known[s] + guard.slack >= share
        ]
    return Outcome(rooms, rejected, sum(_flaps(c) for c in changes))


def _flaps(changes: list[tuple[float, bool]]) -> int:
    return sum(
        1
        for (t0, a), (_, b), (t2, c) in zip(changes, changes[1:], changes[2:])
        if (a, b, c) == (False, True, False) and t2 - t0 <= FLAP_S
    )


def best(
    rule: str,
    cycle: float,
    lag: float,
    stale: bool,
    bursts: int,
    min_open: int = 2,
    spread: float = SPREAD_S,
) -> dict:
    """The rule's best mean rooms CV over SLACKS, on `bursts` bursts (the same ones for every slack),
    their creates over `spread` seconds."""
    made = [make_burst(random.Random(k), stale, spread) for k in range(bursts)]
    rows = []
    for slack in SLACKS if rule in ("share", "quick") else (0.0,):
        run = run_burst_quick if rule == "quick" else run_burst
        outcomes = [run(b, Guard(rule, cycle, lag, slack, min_open)) for b in made]
        cvs = sorted(o.cv for o in outcomes)
        rows.append(
            {
                "rule": rule,
                "cycle_s": cycle,
                "lag_s": lag,
                "loads": "stale" if stale else "fresh",
                "min_open": min_open,
                "slack": slack,
                "rooms_cv_mean": round(statistics.mean(cvs), 3),
                "rooms_cv_p90": round(cvs[int(0.9 * len(cvs))], 3),
                "flaps_per_burst": round(statistics.mean(o.flaps for o in outcomes), 2),
            }
        )
    return min(rows, key=lambda r: r["rooms_cv_mean"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=2000, help="bursts per setting")
    parser.add_argument("--quick", action="store_true", help="200 bursts, two cadences")
    parser.add_argument(
        "--spread",
        type=float,
        default=SPREAD_S,
        help="seconds over which a burst's rooms are created (the real bench's --spread)",
    )
    args = parser.parse_args()
    if args.spread <= 0:
        parser.error("--spread must be above 0")
    bursts = 200 if args.quick else args.bursts
    cadences = QUICK_CADENCES if args.quick else CADENCES
    print(
        "| guard | look every | acts after | placeable at least | loads at the bell | rooms CV mean | p90"
        " | flaps per burst | best slack |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    spread = args.spread
    for stale in (False, True):
        rows = [best("none", 0.0, 0.0, stale, bursts, spread=spread)]
        rows += [best("share", cycle, lag, stale, bursts, spread=spread) for cycle, lag in cadences]
        rows.append(best("share", *cadences[0], stale, bursts, min_open=1, spread=spread))
        rows.append(best("quick", *cadences[0], stale, bursts, spread=spread))
        rows += [
            best("steer", cycle, lag, stale, bursts, spread=spread)
            for cycle, lag in (cadences[0], cadences[-1])
        ]
        for r in rows:
            alone, steer = r["rule"] == "none", r["rule"] == "steer"
            print(
                "| "
                + " | ".join(
                    [
                        "Scalelite alone" if alone else LABELS[r["rule"]],
                        "—" if alone else f"{r['cycle_s']} s",
                        "—" if alone else f"{r['lag_s']} s",
                        "—" if alone else str(r["min_open"]),
                        r["loads"],
                        f"{r['rooms_cv_mean']:.3f}",
                        f"{r['rooms_cv_p90']:.3f}",
                        "—" if alone else f"{r['flaps_per_burst']:g}",
                        "—" if alone or steer else f"{r['slack']:g}",
                    ]
                )
                + " |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
