"""Benchmark: capacity checks against a Scalelite whose getMeetings outlasts the read timeout.

Scalelite's getMeetings asks its servers one after another (v1.6.1 get_meetings): 250 servers at
0.3 s each answer in 75 s, past the tick's 20-s read timeout. Each tick then spends connect_timeout + 3 x
read_timeout (63 s at the defaults: longer than the timer's minute, so the next tick finds the lease
held) before it reads each server's own getMeetings. With `scalelite.meetings_direct_minutes` the
ticks after a timeout go to the servers first. This runs the same ticks both ways in one run, over
real HTTP: the simulator's Scalelite (bbbsim/scalelite_http.py, `meetings_s_per_server`: its
sequential fan-out) with its BBB servers behind it, served in this process (the servers' answers
sleep; they take no CPU from the tick's client threads), each tick a minute after the last
(the tick's clock, not the wall's):

- `ask every tick` (`meetings_direct_minutes = 0`, what every tick did before): Scalelite's getMeetings
  asked each time, timed out, then the servers;
- `servers first after a timeout` (30, the default).

It prints each side's tick durations, the getMeetings sent to Scalelite and the load each read
(they must agree). Run from the project root: .venv/bin/python bench/slow_getmeetings.py [--servers 250
--per-server 0.3 --read-timeout 20 --ticks 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bbbsim.scalelite_http import LocalScalelite  # noqa: E402
from bbbsim.world import SimWorld  # noqa: E402
from chalicelib.adapters.scalelite.client import ScaleliteClient  # noqa: E402
from chalicelib.adapters.state.memory import MemoryStateStore  # noqa: E402
from chalicelib.bootstrap import Wiring  # noqa: E402
from chalicelib.config import ScaleliteSettings  # noqa: E402
from chalicelib.service.forecasting import NoForecast  # noqa: E402
from tests.support.builders import settings  # noqa: E402
from tests.support.fakes import Clock, FakeProvider  # noqa: E402

SECRET = "bench-loadbalancer-secret-0123456789"


class Counted(ScaleliteClient):
    """The tick's Scalelite client, counting the getMeetings it sends."""

    sent = 0

    def meetings(self):
        self.sent += 1
        return super().meetings()


def fleet(servers: int, per_server: float) -> LocalScalelite:
    """`servers` BBB servers, two rooms of 20 each, registered, enabled and polled online."""
    world = SimWorld()
    now = datetime.now(UTC) - timedelta(hours=1)
    local = LocalScalelite(world, SECRET, meetings_s_per_server=per_server).start()
    admin = ScaleliteClient(ScaleliteSettings(url=local.url, retries=0), SECRET)
    for i in range(servers):
        name, secret = f"bbb{i:03d}", f"secret-{i}-0123456789"
        world.add_bbb_server(name, secret, 300.0, now)
        admin.set_state(admin.add(local.server_url(name), secret).id, "enable")
        for room in range(2):
            world.create_meeting(f"{name}-room{room}", now, participants=20, moderators=1, server=name)
    world.poll(datetime.now(UTC))
    return local


def ticks(local: LocalScalelite, args, direct_minutes: float) -> tuple[list[float], int, set[int]]:
    """`args.ticks` ticks a minute apart; their durations (s), the getMeetings sent, the loads read."""
    scalelite = ScaleliteSettings(
        url=local.url,
        read_timeout=args.read_timeout,
        connect_timeout=args.connect_timeout,
        meetings_direct_minutes=direct_minutes,
    )
    client = Counted(scalelite, SECRET)
    cfg = settings(forecast={"enabled": False}, guard={"enabled": False}, scalelite=scalelite.model_dump())
    now = datetime.now(UTC)
    clock = Clock(now)
    hired = {n: p for n, p in cfg.providers.items() if n != "owned"}  # the load wants servers: in-memory VMs
    wiring = Wiring(
        cfg.model_copy(update={"providers": hired}),
        store=MemoryStateStore(cluster="bench"),
        scalelite=client,
        providers={n: FakeProvider(n, clock) for n in hired},
        clock=clock,
        secret=lambda name: None,
        forecaster=NoForecast(),
    )
    durations, participants = [], set()
    for i in range(args.ticks):
        at = clock.now = now + timedelta(minutes=i)
        started = time.perf_counter()
        report = wiring.tick(now=at)
        durations.append(time.perf_counter() - started)
        assert report.load is not None and report.load.complete, report.problems
        participants.add(report.load.totals.participants)
        print(
            f"  tick {i + 1}: {durations[-1]:.1f} s, {report.load.totals.participants} participants",
            flush=True,
        )
    return durations, client.sent, participants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=250)
    parser.add_argument("--per-server", type=float, default=0.3, help="each server's getMeetings, s")
    parser.add_argument("--read-timeout", type=float, default=20.0)
    parser.add_argument("--connect-timeout", type=float, default=3.0)
    parser.add_argument("--ticks", type=int, default=4)
    args = parser.parse_args()
    print(
        f"{args.servers} servers, getMeetings {args.per_server:g} s each (Scalelite's answer: "
        f"{args.servers * args.per_server:g} s), read timeout {args.read_timeout:g} s, {args.ticks} ticks",
        flush=True,
    )
    local = fleet(args.servers, args.per_server)
    rows = []
    try:
        for label, minutes in (("ask every tick", 0.0), ("servers first after a timeout", 30.0)):
            print(f"{label}:", flush=True)
            durations, sent, loads = ticks(local, args, minutes)
            rows.append((label, durations, sent, loads))
    finally:
        local.stop()
    print()
    print(
        "| side | ticks | first tick s | later ticks s (median) | all ticks s | Scalelite getMeetings sent |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, durations, sent, _ in rows:
        later = statistics.median(durations[1:]) if len(durations) > 1 else float("nan")
        print(
            f"| {label} | {len(durations)} | {durations[0]:.1f} | {later:.1f} | {sum(durations):.1f} | {sent} |"
        )
    loads = {load for *_, found in rows for load in found}
    assert len(loads) == 1, f"the two sides read different loads: {sorted(loads)}"
    print(f"\nboth sides read the same load: {loads.pop()} participants in every tick")


if __name__ == "__main__":
    main()
