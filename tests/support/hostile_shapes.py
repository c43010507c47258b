"""Hostile answer shapes (issue 23, item 3), streamed by a loopback HTTP server, and a child process that
reads one through the real client and reports its own peak memory. Shared by
tests/integration/test_answer_memory.py and bench/hostile_load.py.

The child's peak is its VmHWM (its own resident high-water mark, imports included): ru_maxrss would carry
over the parent's (a pytest process that grew to 230 MB) through fork+exec. Each shape is a generator of chunks (never the whole body in memory) and a flag for gzip. The child
reads with the built-in configuration's limits (`max_response_bytes` 256 MiB) unless told otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAD = b"<response><returncode>SUCCESS</returncode><meetings>"
TAIL = b"</meetings></response>"
MEETING = b"<meeting><meetingID>m1</meetingID><participantCount>3</participantCount>"


def _repeat(head: bytes, unit: bytes, count: int, tail: bytes, per_chunk: int = 8192) -> Iterator[bytes]:
    yield head
    block = unit * per_chunk
    for _ in range(count // per_chunk):
        yield block
    yield unit * (count % per_chunk)
    yield tail


def _endless(head: bytes, unit: bytes) -> Iterator[bytes]:
    yield head
    block = unit * 8192
    while True:
        yield block


#: name -> (what the client calls, chunks factory, gzip?)
SHAPES: dict[str, tuple[str, Callable[[], Iterator[bytes]], bool]] = {
    # 3.9 million empty elements beside the meetings (15.6 MB; before: ~33 bytes kept per byte)
    "xml filler beside meetings": (
        "meetings",
        lambda: _repeat(HEAD + MEETING + b"</meeting>", b"<x/>", 3_900_000, TAIL),
        False,
    ),
    # one room holding 1.2 million attendees (3.6 million elements, ~50 MB)
    "xml one giant meeting": (
        "meetings",
        lambda: _repeat(
            HEAD + MEETING + b"<attendees>",
            b"<attendee><userID>u</userID><role>VIEWER</role></attendee>",
            1_200_000,
            b"</attendees></meeting>" + TAIL,
        ),
        False,
    ),
    # ~1 MB of gzip inflating to 200 MB of 1 KB filler elements (decompressed bytes are what count)
    "xml gzip of filler": (
        "meetings",
        lambda: _repeat(HEAD, b"<x>" + b"a" * 1000 + b"</x>", 200_000, TAIL),
        True,
    ),
    # an endless chunked body of filler elements: cut by the byte limit or the element budget
    "xml endless chunked": ("meetings", lambda: _endless(HEAD, b"<x>" + b"a" * 60 + b"</x>"), False),
    # getServers of empty objects (before: 180 MB took 4.9 GB)
    "json empty objects": ("servers", lambda: _repeat(b"[", b"{},", 60_000_000, b"{}]"), False),
    # getServers nested 150,000 deep, under the value bound (before: RecursionError, the end of `bbbscale run`)
    "json deep nesting": ("servers", lambda: _repeat(b"", b"[", 150_000, b""), False),
}


#: Trickled answers: one byte every TRICKLE_STEP seconds of the status line or of the headers, for at most
#: TRICKLE_FOR seconds (an unbounded client waits that long).
TRICKLES = {
    "trickled status line": b"HTTP/1.1 200 OK" + b" " * 4000,
    "trickled headers": b"X-Filler: " + b"a" * 4000,
}
TRICKLE_STEP = 0.5
TRICKLE_FOR = 60.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _trickle(self, data: bytes) -> None:
        import time

        if self.server.shape == "trickled headers":  # type: ignore[attr-defined]
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        stop = time.monotonic() + TRICKLE_FOR
        try:
            for byte in data:
                if time.monotonic() > stop:
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(TRICKLE_STEP)
        except OSError:
            pass

    def do_GET(self):
        if self.server.shape in TRICKLES:  # type: ignore[attr-defined]
            self._trickle(TRICKLES[self.server.shape])  # type: ignore[attr-defined]
            return
        _call, chunks, gzipped = SHAPES[self.server.shape]  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if _call == "servers" else "text/xml")
        self.send_header("Transfer-Encoding", "chunked")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        packer = zlib.compressobj(9, zlib.DEFLATED, 31) if gzipped else None
        try:
            for chunk in chunks():
                data = packer.compress(chunk) if packer else chunk
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            if packer:
                data = packer.flush()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client stopped reading: what a bound does


class ShapeServer:
    """A loopback server answering every GET with one shape."""

    def __init__(self, shape: str):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.shape = shape  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/bigbluebutton/api"

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


CHILD = """
import json, sys, time
from chalicelib.adapters.scalelite.client import ScaleliteClient
from chalicelib.config_file import load_settings
changes = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
settings = load_settings().scalelite.model_copy(update={"url": sys.argv[1], "retries": 0, **changes})
client = ScaleliteClient(settings, "shape-secret")
began = time.monotonic()
try:
    found = getattr(client, sys.argv[2])()
    outcome = f"read: {len(found.meetings if hasattr(found, 'meetings') else found)} entries"
except Exception as error:
    outcome = f"refused: {type(error).__name__}: {error}"
# VmHWM: this process image's own high-water mark (ru_maxrss carries the parent's over fork+exec)
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"wall_s": round(time.monotonic() - began, 2), "outcome": outcome[:200],
    "peak_mib": round(hwm / 1024, 1)}))
"""


def read_in_child(
    shape: str, code: str = CHILD, memory_cap_mib: int = 0, cwd: Path = ROOT, changes: dict | None = None
) -> dict:
    """Serve `shape` on loopback and read it in a fresh child; its wall time, outcome and peak RSS.
    `memory_cap_mib` > 0 caps the child's address space (for a baseline that would take gigabytes)."""
    call = "meetings" if shape in TRICKLES else SHAPES[shape][0]
    prefix = ""
    if memory_cap_mib:
        cap = memory_cap_mib << 20
        prefix = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))\n"
    with ShapeServer(shape) as url:
        done = subprocess.run(
            [sys.executable, "-c", prefix + code, url, call, json.dumps(changes or {})],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if done.returncode != 0 or not done.stdout.strip():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"wall_s": None, "outcome": f"child died: {last[:160]}", "peak_mib": None}
    return json.loads(done.stdout.strip().splitlines()[-1])
