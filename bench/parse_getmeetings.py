"""Benchmark: streaming getMeetings parser vs a whole-tree xml.etree parse (issue 2 "done when").

Generates a 5,000-room getMeetings answer (~100,000 attendees with full <attendee> elements), then runs
each parser in a fresh subprocess, several times, alternating, and prints wall time (median) and peak
memory. Peak memory = the child's ru_maxrss after parsing minus its ru_maxrss just before (imports done,
file opened, nothing read): the growth the parse itself caused. Both parsers read the same file object,
as they would read an HTTP body.

Run from the worktree: /work/main/.venv/bin/python bench/parse_getmeetings.py [--rooms 5000 --users 100000 --runs 5]
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIELDS = ("participantCount", "moderatorCount", "voiceParticipantCount", "listenerCount", "videoCount")


def run_streaming(path: str) -> dict:
    from chalicelib.adapters.scalelite.parse import parse_meetings

    with open(path, "rb") as body:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        totals = parse_meetings(body, max_bytes=256 * 1024 * 1024).totals
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sums = [totals.participants, totals.moderators, totals.voice, totals.listen_only, totals.video_streams]
    return {"wall": wall, "peak_kib": after - before, "meetings": totals.meetings, "sums": sums}


def run_elementtree(path: str) -> dict:
    import xml.etree.ElementTree as ElementTree

    with open(path, "rb") as body:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        root = ElementTree.parse(body).getroot()
        meetings = root.find("meetings")
        rooms = meetings.findall("meeting") if meetings is not None else []
        sums = [sum(int(m.findtext(field) or 0) for m in rooms) for field in FIELDS]
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"wall": wall, "peak_kib": after - before, "meetings": len(rooms), "sums": sums}


def measure(method: str, path: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", method, path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=5000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, path = args.child
        print(json.dumps((run_streaming if method == "streaming" else run_elementtree)(path)))
        return

    from tests.support.bbb_xml import big_fleet, render_get_meetings

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "getMeetings.xml")
        document = render_get_meetings(big_fleet(args.rooms, args.users)).encode()
        Path(path).write_bytes(document)
        print(f"document: {len(document) / 1e6:.1f} MB, {args.rooms} rooms, {args.users} attendees, "
              f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
        results = {"streaming": [], "elementtree": []}
        for _ in range(args.runs):  # alternate, so both see the same machine conditions
            for method in results:
                results[method].append(measure(method, path))
    assert results["streaming"][0]["sums"] == results["elementtree"][0]["sums"], "parsers disagree"
    assert results["streaming"][0]["meetings"] == results["elementtree"][0]["meetings"] == args.rooms

    rows = {m: (statistics.median(r["wall"] for r in runs), statistics.median(r["peak_kib"] for r in runs))
            for m, runs in results.items()}
    base_wall, base_peak = rows["elementtree"]
    print(f"{'parser':<34}{'wall median (s)':>16}{'peak growth (MiB)':>19}{'wall ratio':>12}{'peak ratio':>12}")
    for method, label in (("elementtree", "xml.etree whole tree + sums"), ("streaming", "parse_meetings (lxml iterparse)")):
        wall, peak = rows[method]
        print(f"{label:<34}{wall:>16.3f}{peak / 1024:>19.1f}{wall / base_wall:>12.2f}{peak / max(base_peak, 1):>12.2f}")
    wall_ratio, peak_ratio = rows["streaming"][0] / base_wall, rows["streaming"][1] / max(base_peak, 1)
    print(f"targets: wall <= 0.60x -> {'met' if wall_ratio <= 0.6 else 'NOT met'} ({wall_ratio:.2f}x); "
          f"peak <= 0.50x -> {'met' if peak_ratio <= 0.5 else 'NOT met'} ({peak_ratio:.2f}x)")


if __name__ == "__main__":
    main()
