"""Benchmark: streaming getMeetings parser vs a whole-tree xml.etree parse (issue 2 "done when").

Generates a 5,000-room getMeetings answer (~100,000 attendees with full <attendee> elements), then runs
each parser in fresh subprocesses, several times, alternating, and prints wall time (median) and peak
memory (median). Both children import the same modules and read the same file object, as they would
read an HTTP body. Memory is measured in separate children from time, so sampling cannot slow the
timed runs:
- peak above start: a thread samples the resident set (/proc/self/statm) every millisecond during the
  parse; the figure is the highest sample minus the resident set just before (libxml2 and expat
  allocate in C, invisible to tracemalloc, so RSS is the honest measure);
- ru_maxrss: the child's whole-life high-water mark (imports included), as a cross-check (the document
  is generated in another child, since Linux carries ru_maxrss over fork+exec).

Run from the project root: .venv/bin/python bench/parse_getmeetings.py [--rooms 5000 --users 100000 --runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

import chalicelib.adapters.scalelite.parse  # noqa: E402,F401 - both children pay the same imports

FIELDS = ("participantCount", "moderatorCount", "voiceParticipantCount", "listenerCount", "videoCount")


def streaming(body) -> tuple[int, list[int]]:
    from chalicelib.adapters.scalelite.parse import parse_meetings

    totals = parse_meetings(body, max_bytes=256 * 1024 * 1024).totals
    return totals.meetings, [
        totals.participants,
        totals.moderators,
        totals.voice,
        totals.listen_only,
        totals.video_streams,
    ]


def elementtree(body) -> tuple[int, list[int]]:
    root = ElementTree.parse(body).getroot()
    meetings = root.find("meetings")
    rooms = meetings.findall("meeting") if meetings is not None else []
    return len(rooms), [sum(int(m.findtext(field) or 0) for m in rooms) for field in FIELDS]


def resident_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_KIB


def child(method: str, path: str, memory: bool) -> dict:
    parse = streaming if method == "streaming" else elementtree
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], resident_kib())
            time.sleep(0.001)

    with open(path, "rb") as body:
        start_rss = resident_kib()
        sampler = threading.Thread(target=sample)
        if memory:
            sampler.start()
        start, cpu_start = time.perf_counter(), time.process_time()
        meetings, sums = parse(body)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        done.set()
        if memory:
            sampler.join()
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_kib": max(peak[0], resident_kib()) - start_rss,
        "meetings": meetings,
        "sums": sums,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def measure(method: str, path: str, memory: bool) -> dict:
    command = [sys.executable, __file__, "--child", method, path] + (["--memory"] if memory else [])
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=5000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--generate", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        from tests.support.bbb_xml import big_fleet, render_get_meetings

        Path(args.generate).write_bytes(render_get_meetings(big_fleet(args.rooms, args.users)).encode())
        return
    if args.child:
        print(json.dumps(child(*args.child, memory=args.memory)))
        return

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "getMeetings.xml")
        # Generated in a child: Linux keeps a process's ru_maxrss across fork+exec, so a parent that held
        # the document would lend its high-water mark to every measuring child.
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--generate",
                path,
                "--rooms",
                str(args.rooms),
                "--users",
                str(args.users),
            ],
            check=True,
        )
        print(
            f"document: {os.path.getsize(path) / 1e6:.1f} MB, {args.rooms} rooms, {args.users} attendees, "
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus"
        )
        timing = {"streaming": [], "elementtree": []}
        memory = {"streaming": [], "elementtree": []}
        for _ in range(args.runs):  # alternate, so both see the same machine conditions
            for method in timing:
                timing[method].append(measure(method, path, memory=False))
                memory[method].append(measure(method, path, memory=True))
    assert timing["streaming"][0]["sums"] == timing["elementtree"][0]["sums"], "parsers disagree"
    assert timing["streaming"][0]["meetings"] == timing["elementtree"][0]["meetings"] == args.rooms

    def median(runs, key):
        return statistics.median(r[key] for r in runs)

    rows = {
        m: (
            median(timing[m], "wall"),
            median(memory[m], "peak_kib"),
            median(memory[m], "maxrss_kib"),
            median(timing[m], "cpu"),
        )
        for m in timing
    }
    base_wall, base_peak, _, base_cpu = rows["elementtree"]
    print(
        f"{'parser (medians)':<34}{'wall (s)':>10}{'cpu (s)':>9}{'peak above start (MiB)':>24}{'ru_maxrss (MiB)':>17}"
        f"{'wall ratio':>12}{'cpu ratio':>11}{'peak ratio':>12}"
    )
    for method, label in (
        ("elementtree", "xml.etree whole tree + sums"),
        ("streaming", "parse_meetings (lxml iterparse)"),
    ):
        wall, peak, maxrss, cpu = rows[method]
        print(
            f"{label:<34}{wall:>10.3f}{cpu:>9.3f}{peak / 1024:>24.1f}{maxrss / 1024:>17.1f}"
            f"{wall / base_wall:>12.2f}{cpu / base_cpu:>11.2f}{peak / max(base_peak, 1):>12.2f}"
        )
    for method, runs in timing.items():
        walls = sorted(run["wall"] for run in runs)
        print(f"{method} wall runs (s, sorted): " + ", ".join(f"{wall:.2f}" for wall in walls))
    best = min(r["wall"] for r in timing["streaming"]) / min(r["wall"] for r in timing["elementtree"])
    print(f"best-of-{args.runs} wall ratio: {best:.2f}x (less sensitive to other load on the machine)")
    wall_ratio, peak_ratio = rows["streaming"][0] / base_wall, rows["streaming"][1] / max(base_peak, 1)
    print(
        f"targets: wall <= 0.60x -> {'met' if wall_ratio <= 0.6 else 'NOT met'} ({wall_ratio:.2f}x); "
        f"peak <= 0.50x -> {'met' if peak_ratio <= 0.5 else 'NOT met'} ({peak_ratio:.2f}x)"
    )


if __name__ == "__main__":
    main()
