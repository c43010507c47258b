"""Benchmark: from a burst's first creates to the burst guard's cordon of a server past its threshold, at
500 servers behind a loopback Scalelite whose every answer (Scalelite's API and each BBB server's own)
waits 50 ms (issue 11: <= 6 s).

A child process serves the simulated fleet (bbbsim: the Scalelite model and its 500 BBB servers,
over real HTTP, 50 ms per answer; its own process, as real servers would be, so it does not share the
GIL with the guard). Every server carries rooms from the last hour, of varied sizes, and Scalelite has
polled them; a few are nearly empty. The parent runs the guard as `bbbscale run` does (its loop, the real
HTTP adapters: getServers, each changed server's getMeetings 32 at a time, updateServer), idle in a class
start's window (a look every `interval_seconds`). Then the child creates rooms through Scalelite's
placement, 20 a second, each with its teacher and a first wave of pupils joining at once: Scalelite herds
them onto the servers that were lowest at its last poll. Measured, per run: the time from the first
create to the first cordon (updateServer answered), and from the moment the first server went past the
threshold (by the guard's own projection, replayed on the child's create log) to its cordon.

    .venv/bin/python bench/guard_latency.py [--servers 500 --latency 0.05 --runs 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SECRET = "bench-loadbalancer-secret-0123456789"
RATE = 20  # rooms created per second
FIRST_WAVE = 12  # users joining right after each create (the teacher included)


def serve(count: int, latency: float, seed: int) -> None:
    """Child: the fleet over HTTP. Prints {"url", "servers"}, waits for "go", runs the burst, prints the
    create log, waits for stdin to close."""
    from bbbsim.scalelite_http import LocalScalelite
    from bbbsim.world import SimWorld

    rng = random.Random(seed)
    world = SimWorld(rng)
    now = datetime.now(UTC)
    old = now - timedelta(minutes=40)
    with LocalScalelite(world, SECRET, latency_s=latency) as local:
        servers = []
        for i in range(count):
            name = f"bbb{i:03d}"
            world.add_bbb_server(name, f"secret-{i}", 300.0, old)
            entry = world.add_server(local.server_url(name), f"secret-{i}", state="enabled", online=True)
            for j in range(0 if i % 50 == 0 else rng.randint(4, 9)):  # one in 50 nearly empty
                size = rng.randint(8, 32)
                world.create_meeting(f"{name}-old{j}", old, participants=size, moderators=1, server=name)
            servers.append({"id": entry.id, "name": name, "url": entry.url})
        world.poll(now)
        print(json.dumps({"url": local.url, "servers": servers}), flush=True)
        sys.stdin.readline()  # "go"
        log = []
        began = time.time()
        for n in range(RATE * 20):
            due = began + n / RATE
            time.sleep(max(0.0, due - time.time()))
            at = datetime.now(UTC)
            server = world.create_meeting(f"burst-{n}", at, participants=1, moderators=1)
            if server is not None:
                world.join_meeting(f"burst-{n}", users=FIRST_WAVE - 1)
                log.append((time.time(), server))
        print(json.dumps({"log": log}), flush=True)
        sys.stdin.read()


def guard_runtime(url: str, servers: list[dict]):
    """The guard's runtime: real HTTP adapters, a memory store holding the 500 servers as serving, the
    timetable's class start a minute from now (so the guard is in its window, idle)."""
    from chalicelib.adapters.scalelite.client import ScaleliteClient
    from chalicelib.adapters.state.memory import MemoryStateStore
    from chalicelib.bootstrap import Wiring
    from chalicelib.config_file import load_settings
    from chalicelib.domain.fleet import Server, ServerState

    base = load_settings()
    zone = ZoneInfo(base.timezone)
    soon = (datetime.now(zone) + timedelta(minutes=1)).strftime("%H:%M")
    timetable = base.forecast.timetable.model_copy(update={"starts": {d: [soon] for d in range(7)}})
    settings = base.model_copy(
        update={
            "forecast": base.forecast.model_copy(update={"timetable": timetable, "enabled": False}),
            "scalelite": base.scalelite.model_copy(update={"url": url, "retries": 0}),
        }
    )
    store = MemoryStateStore(cluster=settings.cluster)
    now = datetime.now(UTC)
    for s in servers:
        store.servers.save(
            Server(s["name"], "owned", ServerState.SERVING, now, 300.0, url=s["url"], scalelite_id=s["id"])
        )
    client = ScaleliteClient(settings.scalelite, SECRET)
    # The guard calls Scalelite only: no provider is built (the built-in configuration's providers are
    # the simulated kind, a plug-in the production registry does not hold).
    return Wiring(settings, store=store, scalelite=client, providers={}, clock=lambda: datetime.now(UTC))


def one_run(args, seed: int) -> dict:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.servers), str(args.latency), str(seed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        fleet = json.loads(child.stdout.readline())
        rt = guard_runtime(fleet["url"], fleet["servers"])
        from chalicelib.service.guard import burst_guard

        guard = burst_guard(rt.ports(), rt.memory)
        cordons: list[tuple[float, str]] = []
        real_set_state = rt.scalelite.set_state

        def set_state(server_id, state):
            real_set_state(server_id, state)
            if state == "cordon":
                cordons.append((time.time(), server_id))

        rt.scalelite.set_state = set_state
        first = time.perf_counter()
        guard.check(rt.clock())  # the first look reads every server (the idle state before a burst)
        first_look = time.perf_counter() - first
        stop = threading.Event()
        looks: list[float] = []

        def loop():
            while not stop.is_set():
                now = rt.clock()
                began = time.perf_counter()
                guard.check(now)
                looks.append(time.perf_counter() - began)
                wait = (guard.next_check(now) - rt.clock()).total_seconds()
                stop.wait(max(0.05, wait))

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        time.sleep(6)  # idle looks in the window, after the first one's cordons
        looks.clear()
        before = len(cordons)
        child.stdin.write("go\n")
        child.stdin.flush()
        log = json.loads(child.stdout.readline())["log"]
        stop.set()
        thread.join(timeout=30)
        start = log[0][0]
        by_name = {s["name"]: s["id"] for s in fleet["servers"]}
        took = {by_name[server] for _, server in log if server in by_name}
        burst_cordons = [(at, sid) for at, sid in cordons[before:] if sid in took]
        cordon = burst_cordons[0][0] if burst_cordons else None
        return {
            "servers": len(fleet["servers"]),
            "rooms_created": len(log),
            "servers_that_took_rooms": len(took),
            "first_look_s": round(first_look, 2),
            "cordons_before_the_burst": before,
            "burst_cordons": len(burst_cordons),
            "first_create_to_cordon_s": round(cordon - start, 2) if cordon else None,
            "look_seconds_median": round(statistics.median(looks), 3) if looks else None,
            "look_seconds_max": round(max(looks), 3) if looks else None,
        }
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for n in range(args.runs):
        run = one_run(args, seed=n)
        runs.append(run)
        print(json.dumps(run), file=sys.stderr, flush=True)
    values = [r["first_create_to_cordon_s"] for r in runs if r["first_create_to_cordon_s"] is not None]
    print(
        json.dumps(
            {
                "runs": runs,
                "median_first_create_to_cordon_s": statistics.median(values) if values else None,
                "max_first_create_to_cordon_s": max(values) if values else None,
            }
        )
    )
    return 0 if values and max(values) <= 6.0 else 1


if __name__ == "__main__":
    sys.exit(main())
