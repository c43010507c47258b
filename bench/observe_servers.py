"""Benchmark: per-server observation of 500 BBB servers, parallel vs one after another (issue 3).

Serves 500 BBB APIs from one loopback HTTP server (checksums verified) that waits 50 ms before every
answer, the round trip of a distant server. The server runs in its own process, as real servers would
(in-process it would share the GIL with the clients and time its own Python, not ours). Then times `observe_per_server` over all of them with the
configured concurrency and with concurrency 1 (the sequential baseline, what Scalelite's own
getMeetings does), side by side in one run. Each server hosts 2 rooms of 20 attendees.

Run from the project root: .venv/bin/python bench/observe_servers.py [--servers 500 --latency 0.05
--concurrency 32 --runs 3 --sequential-subset N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.adapters.scalelite.observe import observe_per_server  # noqa: E402
from chalicelib.domain.load import Meeting  # noqa: E402
from chalicelib.ports import ScaleliteServer  # noqa: E402
from tests.support.bbb_xml import render_get_meetings  # noqa: E402
from tests.support.fake_bbb import LoopbackFleet  # noqa: E402


def timed(servers: list[ScaleliteServer], concurrency: int) -> tuple[float, int]:
    start = time.perf_counter()
    snapshot = observe_per_server(
        servers, concurrency=concurrency, connect_timeout=3, read_timeout=10, retries=0
    )
    wall = time.perf_counter() - start
    assert snapshot.complete, snapshot.problems[:3]
    return wall, snapshot.totals.meetings


def serve(count: int, latency: float) -> None:
    """Child process: the fleet, until our stdin closes. Prints the servers as one JSON line."""
    with LoopbackFleet(latency=latency) as fleet:
        for i in range(count):
            rooms = [Meeting(f"s{i}-room{j}", participants=20, voice=3, video=1) for j in range(2)]
            fleet.add_bbb(f"bbb{i:03d}", f"secret-{i}", meetings_xml=render_get_meetings(rooms))
        print(json.dumps(list(fleet.servers.values())), flush=True)
        sys.stdin.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--sequential-subset",
        type=int,
        default=0,
        help="time the sequential baseline on this many servers and extrapolate (0 = all)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.servers, args.latency)

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--servers", str(args.servers), "--latency", str(args.latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        servers = [
            ScaleliteServer(
                id=s["id"], url=s["url"], secret=s["secret"], state="enabled", online=True, load=0.0
            )
            for s in json.loads(child.stdout.readline())
        ]
        parallel = [timed(servers, args.concurrency) for _ in range(args.runs)]
        subset = servers[: args.sequential_subset] if args.sequential_subset else servers
        seq_wall, seq_meetings = timed(subset, 1)
    finally:
        child.stdin.close()
        child.wait(timeout=10)

    assert all(meetings == 2 * args.servers for _, meetings in parallel)
    assert seq_meetings == 2 * len(subset)
    par_wall = statistics.median(wall for wall, _ in parallel)
    seq_full = seq_wall * len(servers) / len(subset)
    how = "measured" if len(subset) == len(servers) else f"extrapolated from {len(subset)}"
    print(
        f"{args.servers} servers, {args.latency * 1000:.0f} ms per request, loopback server in its own process"
    )
    print(f"{'observation':<46}{'wall (s)':>10}{'speed-up':>10}")
    print(f"{'sequential (concurrency 1), ' + how:<46}{seq_full:>10.2f}{1.0:>10.1f}")
    print(
        f"{f'parallel (concurrency {args.concurrency}), median of {args.runs}':<46}{par_wall:>10.2f}"
        f"{seq_full / par_wall:>10.1f}"
    )
    print(f"parallel runs: {', '.join(f'{wall:.2f}' for wall, _ in parallel)} s")
    print(f"target: parallel <= 2 s -> {'met' if par_wall <= 2.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
