"""Benchmark: `bbbscale load --file` as a user runs it, whole process, beside ElementTree's whole process.

The parser alone is measured by bench/parse_getmeetings.py; this one measures what the command costs
from exec to exit (interpreter start, imports, configuration, parse, report), against a plain script
that parses the same file with xml.etree and prints the same sums. Both run in fresh processes,
alternating, `--runs` times each; wall time and CPU time (user + system, from the kernel's accounting
of the child) are reported as medians. CPU time is less sensitive to other load on a shared machine.

    .venv/bin/python bench/load_command.py [--rooms 5000 --users 100000 --runs 5] [--compare DIR]

`--compare DIR` also runs the command from another tree of the project (e.g. an export of an earlier
commit: `git archive REV | tar -x -C DIR`), in the same alternation, with the same interpreter.
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

ELEMENTTREE = """
import json, sys, xml.etree.ElementTree as ElementTree
root = ElementTree.parse(sys.argv[1]).getroot()
rooms = root.find("meetings")
rooms = rooms.findall("meeting") if rooms is not None else []
total = lambda field: sum(int(m.findtext(field) or 0) for m in rooms)
print(json.dumps({"meetings": len(rooms), "participants": total("participantCount"),
                  "moderators": total("moderatorCount"), "voice": total("voiceParticipantCount"),
                  "listen_only": total("listenerCount"), "video_streams": total("videoCount")}))
"""
SUMS = ("meetings", "participants", "moderators", "voice", "listen_only", "video_streams")


def run(command: list[str], cwd: Path) -> tuple[float, float, dict]:
    """(wall s, CPU s of the child, its JSON answer)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=5000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare", type=Path, help="another tree of the project, run the same way")
    parser.add_argument("--target", type=float, default=0.6, help="command / ElementTree, wall (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "getMeetings.xml")
        generate = [sys.executable, str(ROOT / "bench" / "parse_getmeetings.py"), "--generate", path]
        subprocess.run(generate + ["--rooms", str(args.rooms), "--users", str(args.users)], check=True)
        command = [sys.executable, "-m", "chalicelib", "load", "--file", path, "--json"]
        contenders = {
            "elementtree": ([sys.executable, "-c", ELEMENTTREE, path], ROOT),
            "load": (command, ROOT),
        }
        if args.compare:
            contenders["load (compared tree)"] = (command, args.compare.resolve())
        for argv, cwd in contenders.values():  # warm the file cache and .pyc files once
            run(argv, cwd)
        samples: dict[str, list[tuple[float, float, dict]]] = {name: [] for name in contenders}
        for _ in range(args.runs):  # alternate, so every contender sees the same machine conditions
            for name, (argv, cwd) in contenders.items():
                samples[name].append(run(argv, cwd))
    answers = {name: {key: runs[0][2][key] for key in SUMS} for name, runs in samples.items()}
    assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1, f"answers differ: {answers}"
    size = args.rooms, args.users
    print(f"document: {size[0]} rooms, {size[1]} attendees; {args.runs} fresh processes each, medians")
    base_wall = statistics.median(r[0] for r in samples["elementtree"])
    base_cpu = statistics.median(r[1] for r in samples["elementtree"])
    print(f"{'process':<24}{'wall (s)':>10}{'cpu (s)':>10}{'wall ratio':>12}{'cpu ratio':>11}")
    for name, runs in samples.items():
        wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        print(f"{name:<24}{wall:>10.3f}{cpu:>10.3f}{wall / base_wall:>12.2f}{cpu / base_cpu:>11.2f}")
    ratio = statistics.median(r[0] for r in samples["load"]) / base_wall
    print(f"target: load --file <= {args.target}x ElementTree's whole process (wall): ", end="")
    print(f"{'met' if ratio <= args.target else 'NOT met'} ({ratio:.2f}x)")
    return 0 if ratio <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
