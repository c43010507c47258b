"""A hostile Scalelite on loopback (issue 14): an endless chunked body, a gzip bomb, a trickle, a hang, an
endless stream of tiny rooms. Each call ends within its one configured deadline (connect + 3 x read
timeout, retries included) with one line naming the limit that stopped it."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.adapters.scalelite.client import ScaleliteClient
from chalicelib.config import ScaleliteSettings
from chalicelib.ports import ResponseError, UnreachableError

HEAD = b"<response><returncode>SUCCESS</returncode><meetings>"
ROOM = b"<meeting><meetingID>r%d</meetingID><participantCount>1</participantCount></meeting>"
BOMB = gzip.compress(HEAD + b" " * (64 << 20) + b"</meetings></response>", 9)  # 64 MiB in ~64 KB


class Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "hang"

    def log_message(self, *args):
        pass

    def do_GET(self):
        try:
            getattr(self, f"_{self.server.mode}")()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _start(self, **headers) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()

    def _chunked_huge(self):  # endless filler, no length declared
        self._start(Transfer_Encoding="chunked")
        self._chunk(HEAD)
        filler = b" " * 65536
        while True:
            self._chunk(filler)

    def _tiny_rooms(self):  # endless rooms, each a few dozen bytes
        self._start(Transfer_Encoding="chunked")
        self._chunk(HEAD)
        n = 0
        while True:
            self._chunk(b"".join(ROOM % i for i in range(n, n + 500)))
            n += 500

    def _gzip_bomb(self):
        self._start(Content_Encoding="gzip", Content_Length=str(len(BOMB)))
        self.wfile.write(BOMB)

    def _declared_huge(self):
        self._start(Content_Length=str(10 << 30))
        self.wfile.write(HEAD)
        time.sleep(5)

    def _trickle(self):
        self._start(Transfer_Encoding="chunked")
        while True:
            self._chunk(b" ")
            self.wfile.flush()
            time.sleep(0.05)

    def _hang(self):
        self._start(Content_Length="1000")
        time.sleep(30)


@pytest.fixture
def hostile():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client(server, **changes) -> ScaleliteClient:
    host, port = server.server_address[:2]
    options = {
        "url": f"http://127.0.0.1:{port}/bigbluebutton/api",
        "connect_timeout": 0.5,
        "read_timeout": 0.5,
        "retries": 2,
        "max_response_bytes": 1 << 20,
    }
    settings = ScaleliteSettings(**{**options, **changes})
    return ScaleliteClient(settings, "hostile-secret", backoff=0.05)


@pytest.mark.parametrize(
    "mode, error, words",
    [
        ("chunked_huge", ResponseError, "larger than the 1 MiB limit"),
        ("gzip_bomb", ResponseError, "larger than the 1 MiB limit"),
        ("declared_huge", ResponseError, "larger than the 1 MiB limit (declared"),
        ("tiny_rooms", ResponseError, "more than 50,000 meetings"),
        ("trickle", UnreachableError, "2 s time limit"),
        ("hang", UnreachableError, "read timeout: no byte for 0.5 s"),
    ],
)
def test_each_hostile_answer_ends_within_the_deadline_naming_the_limit(hostile, mode, error, words):
    hostile.mode = mode
    # 50,000 rooms take a second or two to parse on a busy machine: a longer deadline for that one.
    settings = {"max_response_bytes": 64 << 20, "read_timeout": 3.0} if mode == "tiny_rooms" else {}
    deadline = 0.5 + 3 * settings.get("read_timeout", 0.5)
    started = time.monotonic()
    with pytest.raises(error) as caught:
        client(hostile, **settings).meetings()
    elapsed = time.monotonic() - started
    assert elapsed <= deadline + 0.5, f"{mode} held the call {elapsed:.1f} s"
    message = str(caught.value)
    assert words in message and "\n" not in message, message
    assert "hostile-secret" not in message and "checksum" not in message
