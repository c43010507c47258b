"""One deadline for the whole exchange (issue 23, item 1): a loopback server that trickles the status
line, the headers or the body one byte at a time — each byte well inside the read timeout, so no
per-read timeout ever trips — is cut off at the call's one deadline (connect + 3 x read timeout), for
Scalelite's getMeetings, its admin API (getServers, what the guard reads) and a BBB server's getMeetings.
Before the fix a header byte every 5 s held a tick 431 s against a 63 s deadline."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from chalicelib.adapters.scalelite.bbb import BbbApi
from chalicelib.adapters.scalelite.client import ScaleliteClient
from chalicelib.config import ScaleliteSettings
from chalicelib.ports import UnreachableError

STEP = 0.2  # one byte per step: far inside the 0.5 s read timeout
GIVE_UP = 12.0  # the server stops trickling after this: before the fix, a call took this long
BODY = b"<response><returncode>SUCCESS</returncode><meetings/></response>"


def _trickle(conn: socket.socket, data: bytes, stop: float) -> None:
    """One byte per step until `stop`, or until the client hangs up (what the tests expect it to do)."""
    for byte in data:
        if time.monotonic() > stop:
            return
        try:
            conn.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return
        time.sleep(STEP)


def _serve(conn: socket.socket, part: str) -> None:
    stop = time.monotonic() + GIVE_UP
    try:
        conn.recv(65536)
        if part == "status":
            _trickle(conn, b"HTTP/1.1 200 OK" + b" " * 4000 + b"\r\n", stop)
        elif part == "headers":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            _trickle(conn, b"X-Filler: " + b"a" * 4000 + b"\r\n\r\n", stop)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n")
            _trickle(conn, BODY + b" " * 99000, stop)
    except OSError:
        pass  # the client shut its side: what we want
    finally:
        conn.close()


@pytest.fixture
def trickler(request):
    listener = socket.create_server(("127.0.0.1", 0))
    part = request.param
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=_serve, args=(conn, part), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    done.set()
    thread.join(2)
    listener.close()


def _settings(port: int) -> ScaleliteSettings:
    return ScaleliteSettings(
        url=f"http://127.0.0.1:{port}/bigbluebutton/api",
        connect_timeout=0.5,
        read_timeout=0.5,
        retries=2,
        max_response_bytes=1 << 20,
    )


CALLS = {
    "scalelite getMeetings": lambda port: ScaleliteClient(_settings(port), "s3cret", backoff=0.05).meetings(),
    "scalelite getServers": lambda port: ScaleliteClient(_settings(port), "s3cret", backoff=0.05).servers(),
    "bbb getMeetings": lambda port: BbbApi(
        f"http://127.0.0.1:{port}/bigbluebutton/api",
        "s3cret",
        connect_timeout=0.5,
        read_timeout=0.5,
        retries=2,
        server_name="bbb-1",
        backoff=0.05,
    ).meetings(),
}


@pytest.mark.parametrize("trickler", ["status", "headers", "body"], indirect=True)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_trickled_answer_ends_at_the_one_deadline(trickler, call):
    deadline = 0.5 + 3 * 0.5
    started = time.monotonic()
    with pytest.raises(UnreachableError) as caught:
        CALLS[call](trickler)
    elapsed = time.monotonic() - started
    assert elapsed <= deadline + 0.75, f"{call} held {elapsed:.1f} s against a {deadline} s deadline"
    message = str(caught.value)
    assert "2 s time limit" in message and "\n" not in message, message
    assert "s3cret" not in message and "checksum" not in message


def test_a_kept_alive_connection_is_bound_by_the_next_calls_deadline():
    """A connection taken back from the pool (keep-alive) is registered with the call that reuses it."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
            conn.recv(65536)  # the second request, on the same connection
            _trickle(conn, b"HTTP/1.1 200 OK" + b" " * 4000, time.monotonic() + GIVE_UP)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    api = BbbApi(
        f"http://127.0.0.1:{port}/bigbluebutton/api",
        "s3cret",
        connect_timeout=0.5,
        read_timeout=0.5,
        retries=0,
        backoff=0.05,
    )
    assert api.meetings().meetings == ()
    started = time.monotonic()
    with pytest.raises(UnreachableError):
        api.meetings()
    assert time.monotonic() - started <= 2.75
    listener.close()


def test_the_readme_states_the_deadline_the_code_applies():
    """Issue 23, item 8: the README said 69 s while the code applied 63 s."""
    import re
    from pathlib import Path

    from chalicelib.adapters.scalelite.transport import Transport

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    [said] = re.findall(r"connect_timeout \+ 3 x read_timeout \((\d+) s by default\)", readme)
    defaults = ScaleliteSettings()
    applied = Transport("x", defaults.connect_timeout, defaults.read_timeout).total_timeout
    assert float(said) == applied


def test_a_failed_call_says_so_in_one_stderr_line_without_the_retries():
    """Issue 23, item 8: the retry warnings made a failure three lines."""
    from tests.support.cli_runs import run_program

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = run_program(
        "load", "--scalelite", f"http://127.0.0.1:{port}/bigbluebutton/api", "--secret", "s3cret-value"
    )
    assert outcome.status == 1
    assert outcome.err.strip().splitlines() == [
        f"bbbscale load: 127.0.0.1:{port}: getMeetings failed after 3 attempt(s) (connection refused)"
    ]
