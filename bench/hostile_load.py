"""`bbbscale load --file` on a 250 MB getMeetings answer of ~3.2 million tiny rooms (issue 14).

    .venv/bin/python bench/hostile_load.py [--mb 250] [--no-baseline]

The file is written in a child process (streamed, small memory). Each parser runs in its own fresh
child, which reports its wall time, its outcome and its peak resident set (ru_maxrss of itself):
- ours: `python -m chalicelib load --file F --json` (the command as users run it, default configuration);
- baseline: the parse.py of commit 199abc9 (before issue 14: every meeting kept in a list, no room
  bound), loaded from git into the child, reading the same file with the same byte limit (256 MiB).
Target: refused or read within 10 s and <= 100 MB peak.

    .venv/bin/python bench/hostile_load.py --shapes [--cap-mib 1024] [--no-baseline]

Issue 23: every hostile shape of tests/support/hostile_shapes.py (XML filler beside the meetings, one
giant meeting, gzip of filler, an endless chunked body, getServers of empty objects, deeply nested
getServers, a trickled status line, trickled headers), served on loopback and read in a fresh child
through the real client with the built-in limits (trickles: connect 0.5 s + 3 x read 1 s = 3.5 s
deadline, a byte every 0.5 s for up to 60 s). Baseline: the chalicelib of commit a4b7436 (before issue
23), exported with `git archive`, its address space capped at `--cap-mib` so a shape that would take
gigabytes ends in MemoryError instead of taking the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "199abc9"
SHAPES_BASELINE = "a4b7436"  # main before issue 23

WRITE = """
import sys
room = b"<meeting><meetingID>r%d</meetingID><participantCount>1</participantCount></meeting>"
target = int(sys.argv[2]) * 1000 * 1000
with open(sys.argv[1], "wb") as out:
    out.write(b"<response><returncode>SUCCESS</returncode><meetings>")
    written, n = 0, 0
    while written < target:
        chunk = b"".join(room % i for i in range(n, n + 10000))
        out.write(chunk)
        written += len(chunk)
        n += 10000
    out.write(b"</meetings></response>")
print(n)
"""

OURS = """
import json, resource, sys, time, io, contextlib
from chalicelib.cli import main
began = time.monotonic()
err = io.StringIO()
with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
    status = main(["load", "--file", sys.argv[1], "--json"])
print(json.dumps({"wall_s": round(time.monotonic() - began, 2), "status": status,
    "said": err.getvalue().strip()[:160],
    "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""

BASELINE = """
import json, resource, sys, time, types
source = sys.stdin.read()
module = types.ModuleType("baseline_parse")
exec(compile(source, "baseline_parse.py", "exec"), module.__dict__)
began = time.monotonic()
try:
    with open(sys.argv[1], "rb") as stream:
        said = f"{len(module.parse_meetings(stream, 256 << 20).meetings)} meetings read"
except Exception as error:
    said = f"{type(error).__name__}: {error}"[:160]
print(json.dumps({"wall_s": round(time.monotonic() - began, 2), "said": said,
    "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def child(code: str, *args: str, stdin: str | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], input=stdin, capture_output=True, text=True, cwd=ROOT, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def shapes(cap_mib: int, baseline: bool, only: str = "") -> None:
    """Issue 23's shapes, ours then the baseline's, one JSON line each."""
    sys.path.insert(0, str(ROOT))
    from tests.support.hostile_shapes import SHAPES, TRICKLES, read_in_child

    fast = {"connect_timeout": 0.5, "read_timeout": 1.0}
    with tempfile.TemporaryDirectory(prefix="bbbscale-baseline-") as old:
        if baseline:
            archive = subprocess.run(
                ["git", "archive", SHAPES_BASELINE, "chalicelib"], capture_output=True, cwd=ROOT, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        for shape in [s for s in [*SHAPES, *TRICKLES] if only in s]:
            changes = fast if shape in TRICKLES else None
            print(json.dumps({"shape": shape, "ours": read_in_child(shape, changes=changes)}), flush=True)
            if baseline:
                theirs = read_in_child(shape, memory_cap_mib=cap_mib, cwd=Path(old), changes=changes)
                print(json.dumps({"shape": shape, "baseline": theirs}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=250)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--shapes", action="store_true", help="issue 23's hostile shapes over loopback HTTP")
    parser.add_argument("--cap-mib", type=int, default=1024, help="the baseline child's address-space cap")
    parser.add_argument("--only", default="", help="with --shapes: only the shapes whose name holds this")
    args = parser.parse_args()
    if args.shapes:
        shapes(args.cap_mib, not args.no_baseline, args.only)
        return 0
    with tempfile.TemporaryDirectory(prefix="bbbscale-hostile-") as tmp:
        path = str(Path(tmp) / "tiny-rooms.xml")
        rooms = subprocess.run(
            [sys.executable, "-c", WRITE, path, str(args.mb)], capture_output=True, text=True, check=True
        ).stdout.strip()
        print(json.dumps({"file_mb": round(Path(path).stat().st_size / 1e6, 1), "rooms": int(rooms)}))
        print(json.dumps({"ours": child(OURS, path)}), flush=True)
        if not args.no_baseline:
            old = subprocess.run(
                ["git", "show", f"{BASELINE_COMMIT}:chalicelib/adapters/scalelite/parse.py"],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            ).stdout
            print(json.dumps({"baseline": child(BASELINE, path, stdin=old)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
