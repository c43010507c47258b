"""The simulated BBB servers alone over real HTTP on loopback: what a real Scalelite talks to.

`LocalScalelite` (scalelite_http.py) serves the simulator's own Scalelite in front of these servers.
The real Scalelite (tests/real_scalelite/) needs the servers by themselves, each at
`http://127.0.0.1:PORT/bbb/<name>/bigbluebutton/api`, answering what Scalelite v1.6.1 sends them
(app/controllers/bigbluebutton_api_controller.rb, lib/tasks/poll.rake): the API root (poll:versions),
create, join (the user's browser following Scalelite's redirect), getMeetings (poll:servers),
getMeetingInfo (poll:meetings), isMeetingRunning and end, and getRecordings (what bbbscale's drain asks
each server itself), with BBB's checksums (sha1, sha256, sha384, sha512 by length).

getMeetings waits `getmeetings_latency_s` before answering, so a real poll round takes real time: with
0.3 s a server and Scalelite's 4 poller workers, ten servers take about 0.9 s. Each getMeetings is
recorded (`asked`, `answered`), so a harness can tell when a round started and when every server was read.
While `answers_held()` is in force, getMeetings answers wait until it ends: a round in flight saves
nothing before then, however slowly the harness's own calls go (a loaded machine, a Rails just started).
Scalelite's own getMeetings (its API, not its poller) asks every server too; `rounds_from` tells the
poller's calls from those by the caller's port, so only a round's are held and recorded.

Users are counted where a real BBB counts them: at the server's own join. A create pinned here goes to
this server whatever the world's own Scalelite model would choose (`create_meeting(server=...)`).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from bbbsim import xml_render as render
from bbbsim.scalelite_http import _NODE_PATH, CHECKSUM_ERROR, _node_checksum_ok
from bbbsim.world import SimWorld

NOT_FOUND = ("notFound", "We could not find a meeting with that meeting ID")


class SimBbbServers:
    """The world's BBB servers on 127.0.0.1 (an ephemeral port), each at `url(name)`. Thread-safe:
    every change goes through the world's lock. Use as a context manager."""

    def __init__(
        self,
        world: SimWorld,
        getmeetings_latency_s: float = 0.0,
        clock: Callable[[], datetime] | None = None,
    ):
        self.world = world
        self.getmeetings_latency_s = getmeetings_latency_s
        self.clock = clock or (lambda: datetime.now(UTC))
        # Whether a call from this local TCP port is a poll round's (None: every call is): only those are
        # held and recorded; Scalelite's API getMeetings, which asks every server too, is answered at once.
        self.rounds_from: Callable[[int], bool] | None = None
        self.asked: list[tuple[str, float]] = []  # (server, when) of each getMeetings asked, monotonic
        self.answered: list[tuple[str, float]] = []  # (server, when) of each getMeetings answered
        self.moderator_pw: dict[str, str] = {}  # meeting id -> the moderatorPW its create set
        self.failing_creates: set[str] = set()  # servers whose create answers FAILED (a sick BBB)
        self._answering = threading.Event()  # cleared: getMeetings answers wait (`answers_held`)
        self._answering.set()
        self._answering_longest_s = 60.0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self._httpd.request_queue_size = 128
        self._httpd.daemon_threads = True
        self._httpd.server_bind()
        self._httpd.server_activate()
        self._httpd.fleet = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        host, port = self._httpd.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def url(self, name: str) -> str:
        """The API base of one server, as it is registered in Scalelite."""
        return f"{self.base}/bbb/{name}/bigbluebutton/api"

    def start(self) -> SimBbbServers:
        with self.world.lock:
            self.world.url_for = self.url
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="sim-bbb", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SimBbbServers:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @contextmanager
    def answers_held(self, longest_s: float = 60.0) -> Iterator[None]:
        """getMeetings answers wait while this is in force (`longest_s` at most each): a poll round asks,
        but saves nothing until it ends."""
        self._answering.clear()
        self._answering_longest_s = longest_s
        try:
            yield
        finally:
            self._answering.set()

    def in_flight(self) -> int:
        """getMeetings calls asked and not answered yet (a poll round under way)."""
        with self.world.lock:
            return len(self.asked) - len(self.answered)

    def asked_since(self, moment: float) -> list[tuple[str, float]]:
        """The getMeetings calls that arrived at or after `moment` (time.monotonic())."""
        with self.world.lock:
            return [p for p in self.asked if p[1] >= moment]

    def answered_since(self, moment: float) -> list[tuple[str, float]]:
        """The getMeetings calls answered at or after `moment`."""
        with self.world.lock:
            return [p for p in self.answered if p[1] >= moment]

    # --- one call ----------------------------------------------------------------------------------
    def answer(
        self, name: str, call: str, query: str, params: dict[str, str], caller_port: int | None = None
    ) -> tuple[int, bytes, dict] | None:
        """(status, body, headers) of one call, or None: drop the connection (a server that is off)."""
        world = self.world
        node = world.node(name)
        if node is None or node.offline:
            return None
        if not node.answering:
            return 503, b"<html><body>503 Service Temporarily Unavailable</body></html>", {}
        if node.api_error:
            return 500, b"<html><body>Internal Server Error", {}
        if call == "":
            return 200, render.version_xml(node.version), {}
        given = params.get("checksum", "")
        if not given or not _node_checksum_ok(call, query, given, node.secret):
            return 200, render.failed_xml(*CHECKSUM_ERROR), {}
        if call == "getMeetings":
            if self.rounds_from is None or caller_port is None or self.rounds_from(caller_port):
                return self._round_get_meetings(name)
            if self.getmeetings_latency_s:  # Scalelite's API getMeetings: never held nor recorded
                time.sleep(self.getmeetings_latency_s)
            return 200, render.meetings_xml(world.sim_meetings_of(name), style="bbb"), {}
        handler = getattr(self, f"_{call}", None)
        if handler is None:
            return 200, render.failed_xml("unsupportedRequest", "This request is not supported."), {}
        return handler(name, params, params.get("meetingID", ""))

    def _create(self, name, params, meeting_id):
        if not meeting_id:
            return 200, render.failed_xml("missingParamMeetingID", "You must specify a meeting ID."), {}
        if name in self.failing_creates:
            return 200, render.failed_xml("internalError", "Could not create the meeting."), {}
        world = self.world
        with world.lock:
            existing = world.meetings.get(meeting_id)
            if existing is not None and existing.server != name:
                return 200, render.failed_xml("idNotUnique", "A meeting already exists with that ID."), {}
            duplicate = existing is not None
            metadata = {k[5:]: v for k, v in params.items() if k.startswith("meta_")}
            world.create_meeting(
                meeting_id, self.clock(), name=params.get("name", ""), metadata=metadata, server=name
            )
            self.moderator_pw.setdefault(meeting_id, params.get("moderatorPW") or secrets.token_hex(4))
            meeting = world.meetings[meeting_id]
            return 200, render.create_xml(meeting, duplicate), {}

    def _join(self, name, params, meeting_id):
        world = self.world
        with world.lock:
            meeting = world.meetings.get(meeting_id)
            if meeting is None or meeting.server != name:
                return 200, render.failed_xml(*NOT_FOUND), {}
            moderator = params.get("role", "").upper() == "MODERATOR" or (
                params.get("password") is not None
                and params.get("password") == self.moderator_pw.get(meeting_id)
            )
            meeting.participants += 1
            meeting.moderators += 1 if moderator else 0
        return 200, render.fields_xml(messageKey="", message="joined", meeting_id=meeting_id), {}

    def _getMeetingInfo(self, name, params, meeting_id):
        meeting = self.world.meetings.get(meeting_id)
        if meeting is None or meeting.server != name:
            return 200, render.failed_xml(*NOT_FOUND), {}
        return (
            200,
            render.fields_xml(
                meetingID=meeting_id,
                running=meeting.participants > 0,
                participantCount=meeting.participants,
                moderatorCount=meeting.moderators,
            ),
            {},
        )

    def _round_get_meetings(self, name: str) -> tuple[int, bytes, dict]:
        """A poll round's getMeetings: recorded when asked and answered, held while `answers_held`."""
        world = self.world
        with world.lock:
            self.asked.append((name, time.monotonic()))
        if self.getmeetings_latency_s:
            time.sleep(self.getmeetings_latency_s)
        self._answering.wait(timeout=self._answering_longest_s)
        body = render.meetings_xml(world.sim_meetings_of(name), style="bbb")
        with world.lock:
            self.answered.append((name, time.monotonic()))
        return 200, body, {}

    def _getRecordings(self, name, params, meeting_id):
        """A server's recordings not yet moved to Scalelite (what a drain waits for), as `scalelite_http`
        answers for the same node: without this a drain could not be verified against these servers."""
        node = self.world.node(name)
        return 200, render.pending_recordings_xml(name, node.recordings_pending if node else 0), {}

    def _isMeetingRunning(self, name, params, meeting_id):
        meeting = self.world.meetings.get(meeting_id)
        return 200, render.fields_xml(running=meeting is not None and meeting.server == name), {}

    def _end(self, name, params, meeting_id):
        meeting = self.world.meetings.get(meeting_id)
        if meeting is None or meeting.server != name or not self.world.end_meeting(meeting_id):
            return 200, render.failed_xml(*NOT_FOUND), {}
        return 200, render.fields_xml(messageKey="sentEndMeetingRequest", message="sent"), {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - quiet: query strings carry checksums
        pass

    def do_GET(self):
        self._serve()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # a pre-uploaded slide: not kept
        self._serve()

    def _serve(self) -> None:
        fleet: SimBbbServers = self.server.fleet  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        match = _NODE_PATH.match(parts.path)
        if match is None:
            return self._answer(404, b"Not Found")
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        result = fleet.answer(match.group(1), match.group(2), parts.query, params, self.client_address[1])
        if result is None:
            self.close_connection = True
            return
        self._answer(result[0], result[1])

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        xml = body.startswith(b"<?xml")
        self.send_header("Content-Type", "application/xml; charset=utf-8" if xml else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
