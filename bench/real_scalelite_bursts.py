"""Benchmark: class-change bursts on the REAL Scalelite with bbbscale's burst guard running against its API.

The real Scalelite (tests/real_scalelite/harness.py: the checkout BBBSCALE_SCALELITE_CHECKOUT names, on
Debian's Ruby, with its own PostgreSQL and Redis on loopback) polls `--servers` simulated BBB servers
(bbbsim/bbb_http.py) every `--poll` seconds, each getMeetings taking `--getmeetings` seconds, so
poll rounds run during the bursts. Each server carries a few older rooms. Every `--period` seconds a
class change: the last burst's rooms end (Scalelite's `end`), `--rooms` rooms (the same rooms each
time, as a timetable's) are created through Scalelite's API over the first 8 seconds (`--spread`), each
teacher joins at once and the pupils 1-30 seconds after their room's create, while the later rooms are
still being created (every join through Scalelite's join, its redirect followed to the BBB server;
until 2026-12-08 the joins due during the creates were sent only once every room was created:
bench/README.md "The pupils join while the rooms are created"). The burst guard of this tree
(chalicelib/service/guard.py: BurstGuard with the real HTTP adapters) looks and acts in a thread, the
timetable's class starts being the bursts' minutes, with no forecast unless `--forecast` gives it one:
the fleet's load once the last burst was in, what a slot's history says when its class is the same each
time (production's guard takes the burst's size from the tick's forecast). Before the second burst an
operator disables one server through Scalelite's API.

Measured (Redis' `server_load` read every 0.2 s): the server-seconds a server was placeable while the
guard had it cordoned (total, per burst, longest stretch of one server), rejected creates, flaps (a
server cordoned, enabled and cordoned again by the guard within 3 s: `flaps` over its updateServer
calls, `flaps_by_choice` over its decisions, where a repair of a cordon a poll undid, enable then
cordon, is one decision, `repairs` counted apart), the spread once each burst is in
(chalicelib.domain.herding.spread over the servers serving at its start: the CV of rooms per server and
of real load per server; and, per burst, when the poll rounds that read the servers after the last
lesson's rooms ended saved them, until the last create: before the first such round Scalelite's loads
still count the ended rooms, and the mean CV of the bursts with and without one), and whether the
operator's disable survived: the server still reported
disabled at the end and no change of the guard's to it after the disable (its own cordons and enables
of that server before, in the first burst, are listed apart), and how long Scalelite still placed on it
(a disable sent during a poll round leaves the server in the placement set: Scalelite's own behaviour,
tests/real_scalelite/test_scenarios.py), and how long the guard's looks, its getServers and its reads
of the BBB servers took while the rooms were created (median, 90th percentile, longest).

    .venv/bin/python bench/real_scalelite_bursts.py [--quick] [--forecast] [--bursts 20 --servers 10 --poll 10]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bbbsim.bbb_http import SimBbbServers  # noqa: E402
from bbbsim.world import SimWorld  # noqa: E402
from chalicelib.service.guard import BurstGuard  # noqa: E402
from tests.real_scalelite.backends import Backend  # noqa: E402
from tests.real_scalelite.burst_measures import (  # noqa: E402
    Watch,
    flaps,
    flaps_by_choice,
    placeable_stats,
    rounds,
)
from tests.real_scalelite.harness import CHECKOUT_VAR, RealScalelite, unavailable  # noqa: E402

CAPACITY = 300.0  # the default settings' owned servers
SPREAD_S = 8.0  # a burst's creates, over this many seconds
ENDED_BEFORE_S = 2.0  # the last burst's rooms end this long before the next burst's first create
JOIN_S = 30.0  # its pupils' joins, over this many seconds after their room's create


class _Stopped(Exception):
    """The bench is over: the guard's loop ends at its next pause."""


class Fleet(Backend):
    """The real Scalelite and its BBB servers, driven as the scenario tests drive them."""

    def __init__(self, scalelite: RealScalelite, bbb: SimBbbServers, world: SimWorld):
        self.scalelite, self.bbb = scalelite, bbb
        super().__init__(scalelite.url, scalelite.secret, world)

    def server_url(self, name: str) -> str:
        return self.bbb.url(name)

    def end(self, meeting_id: str) -> None:
        self._call("end", {"meetingID": meeting_id})


def guard_wiring(fleet: Fleet, minutes: list[datetime], forecaster=None):
    """bbbscale's runtime on the real Scalelite: real HTTP adapters, the servers as serving owned ones,
    a timetable whose class starts are the bursts' minutes; no forecast unless `forecaster` is given (a
    callable: now -> (units, reason), the port the tick's forecast fills)."""
    from chalicelib.adapters.scalelite.client import ScaleliteClient
    from chalicelib.adapters.state.memory import MemoryStateStore
    from chalicelib.bootstrap import Wiring
    from chalicelib.config_file import load_settings
    from chalicelib.domain.fleet import Server, ServerState

    base = load_settings()
    zone = ZoneInfo(base.timezone)
    starts = sorted({m.astimezone(zone).strftime("%H:%M") for m in minutes})
    timetable = base.forecast.timetable.model_copy(update={"starts": dict.fromkeys(range(7), starts)})
    settings = base.model_copy(
        update={
            "forecast": base.forecast.model_copy(update={"timetable": timetable, "enabled": False}),
            "scalelite": base.scalelite.model_copy(update={"url": fleet.url, "retries": 0}),
        }
    )
    store = MemoryStateStore(cluster=settings.cluster)
    now = datetime.now(UTC)
    for n, (name, server_id) in enumerate(fleet.ids.items()):
        record = f"bbbscale-{settings.cluster}-owned-{n + 1}"
        store.servers.save(
            Server(
                record,
                "owned",
                ServerState.SERVING,
                now,
                CAPACITY,
                url=fleet.server_url(name),
                scalelite_id=server_id,
            )
        )
    client = ScaleliteClient(settings.scalelite, fleet.secret)
    return Wiring(
        settings,
        store=store,
        scalelite=client,
        providers={},
        clock=lambda: datetime.now(UTC),
        forecaster=forecaster,
    )


class Joins:
    """The pupils' joins of a burst, each sent at its time while the other rooms are still being created
    (a pupil joins 1-30 s after the room's create, not after the whole burst's creates): a thread of its
    own takes them in time order and hands each to `pool`."""

    def __init__(self, pool: ThreadPoolExecutor, join) -> None:
        self._pool, self._join = pool, join
        self._due: list[tuple[float, int, str]] = []
        self._added = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._send, daemon=True)
        self._thread.start()

    def add(self, meeting_id: str, times: list[float]) -> None:
        """Schedule one room's pupils (monotonic times)."""
        with self._cond:
            for at in times:
                self._added += 1
                heapq.heappush(self._due, (at, self._added, meeting_id))
            self._cond.notify()

    def finish(self) -> None:
        """Every room is created: send what is left, each at its time, and return once all are sent."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _send(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._due:
                        if self._closed:
                            return
                        self._cond.wait()
                        continue
                    wait = self._due[0][0] - time.monotonic()
                    if wait <= 0:
                        _, _, meeting_id = heapq.heappop(self._due)
                        break
                    self._cond.wait(wait)  # an earlier join may be added meanwhile
            self._pool.submit(self._join, meeting_id)


class LastBurst:
    """The forecast `--forecast` gives the guard: the load the whole fleet carried once the last burst was
    in (every room, as the tick measures it), i.e. what the history of a slot whose class is the same
    every time would say. Before the first burst is in it knows nothing (0: no forecast)."""

    def __init__(self) -> None:
        self.units = 0.0

    def measure(self, world: SimWorld, weights) -> None:
        from chalicelib.domain.load import room_costs

        rooms = [m.as_meeting() for m in list(world.meetings.values()) if not m.is_breakout]
        self.units = float(sum(room_costs(rooms, weights, time.time())))

    def __call__(self, now: datetime) -> tuple[float, str]:
        return self.units, f"forecast: {self.units:.0f} units, the fleet's load once the last burst was in"


def room_spread(world: SimWorld, serving: set[str], weights):
    """Rooms and real load per serving server (chalicelib.domain.herding.spread, as the guard reports it)."""
    from chalicelib.domain.herding import spread
    from chalicelib.domain.load import room_costs

    rows = []
    for name in sorted(serving):
        rooms = [m.as_meeting() for m in world.sim_meetings_of(name) if not m.is_breakout]
        rows.append((len(rooms), sum(room_costs(rooms, weights, time.time())), CAPACITY))
    return spread(rows)


def timed(calls: list[tuple[float, float]], call):
    """`call`, noting (monotonic start, seconds) of each of its calls in `calls`, whether it raised or not."""

    def timed_call(*args):
        began = time.monotonic()
        try:
            return call(*args)
        finally:
            calls.append((began, time.monotonic() - began))

    return timed_call


def timings(calls: list[tuple[float, float]], began: list[float], spread_s: float) -> dict:
    """Median, 90th percentile and longest of the calls that started in a burst's creates (its first
    `spread_s` seconds), and how many."""
    inside = sorted(d for at, d in calls if any(b <= at < b + spread_s for b in began))
    if not inside:
        return {"calls": 0}
    pick = lambda q: round(inside[min(len(inside) - 1, int(q * len(inside)))], 3)  # noqa: E731
    return {"calls": len(inside), "p50": pick(0.5), "p90": pick(0.9), "max": round(inside[-1], 3)}


def run(args) -> dict:
    rng = random.Random(args.seed)
    world = SimWorld(rng)
    sizes = {f"class-{k}": rng.randint(15, 30) for k in range(args.rooms)}
    with (
        RealScalelite(args.checkout, poll_interval_s=args.poll) as scalelite,
        SimBbbServers(world, getmeetings_latency_s=args.getmeetings) as bbb,
    ):
        fleet = Fleet(scalelite, bbb, world)
        for i in range(args.servers):
            name = f"bbb{i:02d}"
            fleet.add_server(name)
            for j in range(rng.randint(2, 4)):
                fleet.seed_meeting(name, f"{name}-older-{j}", rng.randint(20, 30), 1)
        deadline = time.monotonic() + args.poll + 30
        while len(scalelite.placement()) < args.servers and time.monotonic() < deadline:
            time.sleep(0.2)
        first = (datetime.now(UTC) + timedelta(seconds=105)).replace(second=0, microsecond=0)  # >= 45 s on
        starts = [first + timedelta(seconds=args.period * b) for b in range(args.bursts)]
        forecast = LastBurst() if args.forecast else None
        wiring = guard_wiring(fleet, starts, forecast)
        weights = wiring.settings.weights.model_copy(update={"young_room_participants": 0})
        watch = Watch(fleet)
        guard: BurstGuard | None = None
        looks: list[tuple[float, float]] = []  # (monotonic start, seconds) of each look
        getservers: list[tuple[float, float]] = []  # the same of each getServers the guard sent
        reads: list[tuple[float, float]] = []  # and of each look's getMeetings of the servers that moved
        if not args.no_guard:
            from chalicelib.service.guard import burst_guard

            guard = burst_guard(wiring.ports(), wiring.memory)
            real_set_state = wiring.scalelite.set_state

            def set_state(server_id, state):
                real_set_state(server_id, state)
                watch.record(server_id, state)

            wiring.scalelite.set_state = set_state
            real_set_states = guard._set_states

            def set_states(actions):  # each decision as the guard made it (a repair is one)
                for action in actions:
                    watch.decided(action.server_id, action.action)
                return real_set_states(actions)

            guard._set_states = set_states  # type: ignore[method-assign]
            wiring.scalelite.servers = timed(getservers, wiring.scalelite.servers)
            # the BBB servers' getMeetings, read in parallel each look
            guard.ports.bbb.poll = timed(reads, guard.ports.bbb.poll)  # type: ignore[method-assign]

        def guard_loop(guard: BurstGuard) -> None:
            """The guard's own loop (`BurstGuard.run`, as `bbbscale run` and the Lambda run it), each
            look timed, until the bench stops it (a look that fails is skipped inside `check`)."""
            guard.check = timed(looks, guard.check)  # type: ignore[method-assign]

            def pause(seconds: float) -> None:
                if watch.stop.wait(seconds):
                    raise _Stopped

            try:
                guard.run(datetime.now(UTC) + timedelta(days=1), pause, lambda: datetime.now(UTC))
            except _Stopped:
                pass

        threads = [threading.Thread(target=watch.run, daemon=True)]
        if guard is not None:
            threads.append(threading.Thread(target=guard_loop, args=(guard,), daemon=True))
        for thread in threads:
            thread.start()
        operator_server, disabled_at = None, float("inf")
        rejected, per_burst = 0, []
        mono_of = lambda moment: time.monotonic() + (moment - datetime.now(UTC)).total_seconds()  # noqa: E731
        with ThreadPoolExecutor(max_workers=8) as pool, ThreadPoolExecutor(max_workers=8) as pupil_pool:
            for b, start in enumerate(starts):
                if b == 1:  # the operator takes a server out for maintenance before the second burst
                    operator_server = min(fleet.ids, key=lambda n: len(world.sim_meetings_of(n)))
                    fleet.set_state(operator_server, "disable")
                    disabled_at = time.monotonic()
                    watch.operator = fleet.ids[operator_server]
                time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds() - ENDED_BEFORE_S))
                ended = [time.monotonic()]  # when the last lesson's last `end` returned

                def end_room(meeting_id: str, ended=ended) -> None:
                    fleet.end(meeting_id)
                    ended.append(time.monotonic())

                for meeting_id in sizes:
                    if meeting_id in world.meetings:
                        pool.submit(end_room, meeting_id)
                time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()))
                serving = {n for n, i in fleet.ids.items() if n != operator_server}
                began = time.monotonic()
                placeable_at_start = len(scalelite.placement())
                held_at_start = len(watch.cordoned)
                forecast_at_start = round(forecast.units) if forecast is not None else 0
                plan = sorted((rng.uniform(0, args.spread), mid) for mid in sizes)
                # each pupil's join time, drawn before the burst (the same for every run of one seed)
                delays = {mid: [rng.uniform(1, JOIN_S) for _ in range(sizes[mid] - 1)] for _, mid in plan}
                landed: dict[str, str | None] = {}
                pupils = Joins(pupil_pool, fleet.join)

                def one_room(
                    at: float, meeting_id: str, landed=landed, began=began, pupils=pupils, delays=delays
                ):
                    time.sleep(max(0.0, began + at - time.monotonic()))
                    server = fleet.create(meeting_id)
                    landed[meeting_id] = server
                    if server is not None:
                        fleet.join(meeting_id, moderator=True)
                        pupils.add(meeting_id, [began + at + d for d in delays[meeting_id]])

                list(pool.map(lambda item: one_room(*item), plan))
                pupils.finish()
                burst_rejected = sum(1 for s in landed.values() if s is None)
                rejected += burst_rejected
                time.sleep(max(0.0, began + args.spread + JOIN_S + 2 - time.monotonic()))  # the burst is in
                settled = room_spread(world, serving, weights)
                if forecast is not None:
                    forecast.measure(world, wiring.settings.weights)
                per_burst.append(
                    {
                        "began": began,
                        "ended": ended,
                        "placeable_at_start": placeable_at_start,
                        "guard_cordoned_at_start": held_at_start,
                        "forecast_units": forecast_at_start,  # what the guard's forecast said at the bell
                        "rejected": burst_rejected,
                        "rooms_cv": round(settled.rooms_cv, 3),
                        "load_cv": round(settled.load_cv, 3),
                        # where the burst went, and what each serving server carries once it is in
                        "burst_rooms": {n: list(landed.values()).count(n) for n in sorted(serving)},
                        "rooms": {n: len(world.sim_meetings_of(n)) for n in sorted(serving)},
                    }
                )
            time.sleep(
                max(0.0, (starts[-1] + timedelta(seconds=args.period) - datetime.now(UTC)).total_seconds())
            )
        watch.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        per_burst_began = [p["began"] for p in per_burst]
        ends = per_burst_began[1:] + [mono_of(starts[-1] + timedelta(seconds=args.period))]
        origin = per_burst_began[0] if per_burst else 0.0
        for burst, end in zip(per_burst, ends):
            seconds, longest = placeable_stats(watch.samples, burst["began"], end, watch.step)
            # the poll rounds that read the servers after the last lesson's rooms ended (a round's
            # first save comes one getMeetings after its first read) and saved before the burst's last
            # create, in seconds after the bell: before the first, Scalelite's loads count the ended rooms
            bell, ended = burst["began"], max(burst.pop("ended"))
            burst["poll_rounds_s"] = rounds(watch.saves, ended + args.getmeetings, bell + args.spread, bell)
            burst["placeable_cordoned_server_seconds"] = round(seconds, 1)
            burst["longest_placeable_cordoned_s"] = round(longest, 1)
            del burst["began"]
        operator_id = fleet.ids[operator_server] if operator_server else None
        reported = fleet.client.server(operator_id) if operator_id else None
        # the guard's changes to the operator's server after its disable (those before are its own)
        overriding = [st for at, sid, st in watch.actions if sid == operator_id and at >= disabled_at]
        cvs = [p["rooms_cv"] for p in per_burst]
        unpolled = [p["rooms_cv"] for p in per_burst if not p["poll_rounds_s"]]
        polled = [p["rooms_cv"] for p in per_burst if p["poll_rounds_s"]]
        load_cvs = [p["load_cv"] for p in per_burst]
        placeable = [p["placeable_cordoned_server_seconds"] for p in per_burst]
        found = flaps(watch.actions)
        chosen = flaps_by_choice(watch.decisions)
        if args.actions:
            names = {i: n for n, i in fleet.ids.items()}
            Path(args.actions).write_text(
                "".join(
                    json.dumps({"at_s": round(at - origin, 2), "server": names.get(sid, sid), "state": st})
                    + "\n"
                    for at, sid, st in watch.actions
                )
            )
        if args.history:
            entries = wiring.store.history.recent(100_000, kind="guard")
            Path(args.history).write_text(
                "".join(
                    json.dumps({"at_s": round((e.at - starts[0]).total_seconds(), 2), "summary": e.summary})
                    + "\n"
                    for e in sorted(entries, key=lambda e: e.at)
                )
            )
        return {
            "scalelite_version": scalelite.version,
            "guard": "off" if guard is None else "on (this tree's BurstGuard)",
            "forecast": "the last burst's load" if args.forecast else "none",
            "servers": args.servers,
            "bursts": args.bursts,
            "rooms_per_burst": args.rooms,
            "creates_over_s": args.spread,
            "poll_s": args.poll,
            "getmeetings_s": args.getmeetings,
            "placeable_cordoned_server_seconds": round(sum(placeable), 1),
            "bursts_with_placeable_cordoned": sum(1 for p in placeable if p > 0),
            "max_placeable_cordoned_per_burst": max(placeable, default=0.0),
            "longest_placeable_cordoned_s": max(
                (p["longest_placeable_cordoned_s"] for p in per_burst), default=0.0
            ),
            "rejected_creates": rejected,
            "flaps": len(found),
            "flaps_by_choice": len(chosen),
            "repairs": sum(1 for _, _, action in watch.decisions if action == "recordon"),
            "rooms_cv_mean": round(statistics.mean(cvs), 3) if cvs else None,
            "rooms_cv_max": max(cvs) if cvs else None,
            # the bursts whose creates all met loads counting the last lesson's ended rooms, and their
            # spread against the others'
            "bursts_without_poll_round": len(unpolled),
            "rooms_cv_mean_without_poll_round": round(statistics.mean(unpolled), 3) if unpolled else None,
            "rooms_cv_mean_with_poll_round": round(statistics.mean(polled), 3) if polled else None,
            "load_cv_mean": round(statistics.mean(load_cvs), 3) if load_cvs else None,
            "load_cv_max": max(load_cvs) if load_cvs else None,
            "operator_disable_survived": bool(
                reported is not None and reported.state == "disabled" and not overriding
            ),
            "guard_changes_to_operator_server_after_disable": overriding,
            "guard_changes_to_operator_server_before_disable": [
                st for at, sid, st in watch.actions if sid == operator_id and at < disabled_at
            ],
            # Scalelite's own: a disable sent during a poll round leaves the server in its placement set
            "operator_server_placeable_after_disable_s": round(
                watch.step * sum(1 for _, placeable in watch.operator_placeable if placeable), 1
            ),
            "guard_changes": len(watch.actions),
            # how long the guard's looks and its getServers took while rooms were being created
            "look_seconds_in_bursts": timings(looks, per_burst_began, args.spread),
            "getservers_seconds_in_bursts": timings(getservers, per_burst_began, args.spread),
            "getmeetings_reads_seconds_in_bursts": timings(reads, per_burst_began, args.spread),
            "per_burst": per_burst,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkout", default=os.environ.get(CHECKOUT_VAR, ""), help=f"default: ${CHECKOUT_VAR}"
    )
    parser.add_argument("--bursts", type=int, default=20)
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--rooms", type=int, default=45, help="rooms created per burst")
    parser.add_argument("--period", type=float, default=60.0, help="seconds between class changes")
    parser.add_argument(
        "--spread",
        type=float,
        default=SPREAD_S,
        help=f"seconds over which a burst's rooms are created (default {SPREAD_S:.0f}: the harshest class change)",
    )
    parser.add_argument("--poll", type=float, default=10.0, help="Scalelite's poll interval (rake poll[N])")
    parser.add_argument(
        "--getmeetings", type=float, default=0.3, help="each BBB server's getMeetings, seconds"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--actions", metavar="PATH", help="write the guard's changes here (JSON lines)")
    parser.add_argument("--history", metavar="PATH", help="write the guard's history lines here (JSON lines)")
    parser.add_argument(
        "--no-guard", action="store_true", help="Scalelite alone (what the guard is measured against)"
    )
    parser.add_argument(
        "--forecast",
        action="store_true",
        help="give the guard a forecast: the fleet's load once the last burst was in (from the second burst)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 bursts of 20 rooms on 6 servers (about 3 minutes)"
    )
    args = parser.parse_args()
    if args.quick:
        args.bursts, args.servers, args.rooms = 2, 6, 20
    if not 0 < args.spread <= args.period - JOIN_S - ENDED_BEFORE_S - 2:
        parser.error(
            f"--spread must be above 0 and leave the pupils' {JOIN_S:.0f} s of joins and the next bell's "
            f"ends within --period: at most {args.period - JOIN_S - ENDED_BEFORE_S - 2:.0f} s"
        )
    if args.checkout:
        os.environ[CHECKOUT_VAR] = args.checkout
    reason = unavailable()
    if reason:
        print(json.dumps({"skipped": reason}))
        return 2
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
