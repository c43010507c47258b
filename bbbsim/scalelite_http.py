"""A local Scalelite over real HTTP on loopback, in front of the simulated world.

Three surfaces, each checked like the real one (Scalelite v1.8 api_helper.rb, servers_controller.rb,
scalelite_api_controller.rb; BBB ApiController):

- `/bigbluebutton/api/...`  Scalelite's BBB API: the root (no checksum), getMeetings, create, join,
  end, isMeetingRunning; checksums with the load balancer secret, sha1/sha256/sha512 only.
- `/scalelite/api/...`      the server admin API: JSON in and out; POST bodies must be
  application/json; checksum over the camelCase action and the query string only (never the body).
- `/bbb/<name>/bigbluebutton/api/...`  each simulated BBB server's own API with its own secret (BBB
  also accepts sha384). A server still booting answers 503; one that is off or has the `offline`
  fault drops the connection; one with the `api_error` fault answers 500 with garbage.

Every BBB-style error is XML FAILED with HTTP 200, as the real servers do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from bbbsim import xml_render as render
from bbbsim.scalelite_model import name_in_url
from bbbsim.sim_admin import AdminAnswer, admin_call
from bbbsim.world import NodeUnavailable, SimWorld
from chalicelib.adapters.scalelite.checksum import signed_query, verify
from chalicelib.ports import ApiError

_BBB_LENGTHS = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
_NODE_PATH = re.compile(r"^/bbb/([^/]+)/bigbluebutton/api/?(\w*)$")
_LB_PATH = re.compile(r"^/bigbluebutton/api/?(\w*)$")
_ADMIN_PATH = re.compile(r"^/scalelite/api/(\w+)$")
CHECKSUM_ERROR = ("checksumError", "You did not pass the checksum security check")


def _strip_checksum(query: str, given: str) -> str:
    """Remove the checksum as Scalelite does: by string surgery, never by re-encoding the query."""
    escaped = re.escape(given)
    return re.sub(f"&checksum={escaped}|checksum={escaped}&|checksum={escaped}", "", query)


def _node_checksum_ok(call: str, query: str, given: str, secret: str) -> bool:
    algorithm = _BBB_LENGTHS.get(len(given))
    if algorithm is None:
        return False
    expected = hashlib.new(algorithm, (call + _strip_checksum(query, given) + secret).encode()).hexdigest()
    return hmac.compare_digest(expected, given)


class LocalScalelite:
    """Scalelite + the simulated BBB servers on 127.0.0.1 (port 0: an ephemeral port), served from a
    daemon thread. Use as a context manager. `clock` dates meetings created over HTTP;
    `meetings_s_per_server` gives getMeetings Scalelite's sequential fan-out time."""

    def __init__(
        self,
        world: SimWorld,
        secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        clock: Callable[[], datetime] | None = None,
        meetings_s_per_server: float = 0.0,
    ):
        self.world = world
        self._secret = secret
        self.latency_s = latency_s
        # Scalelite's getMeetings asks each online enabled/cordoned server in turn (v1.6.1 get_meetings):
        # its answer takes this much per such server (0: at once, as this model long answered).
        self.meetings_s_per_server = meetings_s_per_server
        self.clock = clock or (lambda: datetime.now(UTC))
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.scalelite = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._registered: dict[str, str] = {}  # server name -> its Scalelite id (known_url)

    def __repr__(self) -> str:
        return f"LocalScalelite({self.base})"

    @property
    def base(self) -> str:
        host, port = self._httpd.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The BBB API base Scalelite serves, e.g. http://127.0.0.1:PORT/bigbluebutton/api."""
        return f"{self.base}/bigbluebutton/api"

    @property
    def admin_url(self) -> str:
        return f"{self.base}/scalelite/api"

    def server_url(self, name: str) -> str:
        """The API base of one simulated BBB server."""
        return f"{self.base}/bbb/{name}/bigbluebutton/api"

    def known_url(self, name: str) -> str:
        """The URL a BBB server goes by in the world: the one Scalelite has it registered with, else this
        process's. In a world several processes share (bbbsim/shared.py) each serves it on its own
        port; the process that registered it need not be the one that lists its VM for the records, and
        the burst guard finds bbbscale's record of a Scalelite server by URL (it took the owned pool for
        someone else's and never cordoned it: issue 19, the kill-guard test's flake)."""
        with self.world.lock:
            known = self._registered.get(name)
            entry = self.world.registry.get(known) if known else None
            if entry is None or name_in_url(entry.url) != name:
                entry = next((e for e in self.world.registry.values() if name_in_url(e.url) == name), None)
                if entry is None:
                    return self.server_url(name)
                self._registered[name] = entry.id
            return entry.url

    def start(self) -> LocalScalelite:
        """Serve; the world now names servers by their HTTP URL (and `sim://` entries are rewritten)."""
        with self.world.lock:
            self.world.url_for = self.known_url
            for entry in self.world.registry.values():
                name = name_in_url(entry.url)
                if name and entry.url.startswith("sim://"):
                    entry.url = self.server_url(name)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="local-scalelite", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalScalelite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- Scalelite's BBB API ---------------------------------------------------------------------------
    def bbb_call(self, call: str, query: str, params: dict[str, str]) -> tuple[int, bytes, dict]:
        if call == "":
            return 200, render.version_xml(), {}
        given = params.get("checksum", "")
        if not given or not verify(call, _strip_checksum(query, given), given, self._secret):
            return 200, render.failed_xml(*CHECKSUM_ERROR), {}
        handler = getattr(self, f"_call_{call}", None)
        if handler is None:
            return 404, b"Not Found", {}
        meeting_id = params.get("meetingID", "")
        if call != "getMeetings" and not meeting_id:
            return (
                200,
                render.failed_xml("missingParamMeetingID", "You must specify a meeting ID for the meeting."),
                {},
            )
        return handler(params, meeting_id)

    def _call_getMeetings(self, params, meeting_id):
        if self.meetings_s_per_server:
            with self.world.lock:
                asked = sum(1 for e in self.world.registry.values() if e.online and e.state != "disabled")
            time.sleep(asked * self.meetings_s_per_server)  # outside the lock: the world goes on
        try:
            meetings = self.world.scalelite_meetings()
        except ApiError as error:
            return 200, render.failed_xml(error.key, error.message), {}
        return 200, render.meetings_xml(meetings, style="scalelite"), {}

    def _call_create(self, params, meeting_id):
        world = self.world
        duplicate = meeting_id in world.meetings
        metadata = {k[5:]: v for k, v in params.items() if k.startswith("meta_") and k != "meta_server-tag"}
        server = world.create_meeting(
            meeting_id,
            self.clock(),
            name=params.get("name", ""),
            metadata=metadata,
            server_tag=params.get("meta_server-tag"),
        )
        meeting = world.meetings.get(meeting_id)
        if server is None or meeting is None:
            return 200, render.failed_xml("internalError", "Could not find any available servers."), {}
        return 200, render.create_xml(meeting, duplicate), {}

    def _call_join(self, params, meeting_id):
        world = self.world
        with world.lock:
            meeting = world.meetings.get(meeting_id)
            if meeting is None:
                return (
                    200,
                    render.failed_xml("notFound", "We could not find a meeting with that meeting ID"),
                    {},
                )
            entry = next((s for s in world.registry.values() if name_in_url(s.url) == meeting.server), None)
            server = None
            if entry is not None and entry.online and entry.state != "disabled":
                moderator = params.get("role", "").upper() == "MODERATOR" or params.get("password") == "mp"
                server = world.join_meeting(meeting_id, moderator=moderator)  # None: refused
            if entry is None or server is None:
                return (
                    200,
                    render.failed_xml(
                        "serverUnavailable", "The server for this meeting is disabled/offline."
                    ),
                    {},
                )
            secret = world.nodes[server].secret if server in world.nodes else entry.secret
        passed = {k: v for k, v in params.items() if k != "checksum"}
        location = f"{self.server_url(server)}/join?{signed_query('join', passed, secret)}"
        return 302, b"", {"Location": location}

    def _call_end(self, params, meeting_id):
        if not self.world.end_meeting(meeting_id):
            return 200, render.failed_xml("notFound", "We could not find a meeting with that meeting ID"), {}
        return (
            200,
            render.fields_xml(
                messageKey="sentEndMeetingRequest", message="A request to end the meeting was sent."
            ),
            {},
        )

    def _call_isMeetingRunning(self, params, meeting_id):
        return 200, render.fields_xml(running=meeting_id in self.world.meetings), {}

    # --- one simulated BBB server ------------------------------------------------------------------------
    def node_call(
        self, name: str, call: str, query: str, params: dict[str, str]
    ) -> tuple[int, bytes, dict] | None:
        """None means: drop the connection without an answer."""
        node = self.world.node(name)
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
            try:
                return 200, render.meetings_xml(self.world.node_meetings(name), style="bbb"), {}
            except NodeUnavailable:
                return None
        if call == "getRecordings":
            return 200, render.pending_recordings_xml(name, node.recordings_pending), {}
        return 200, render.failed_xml("unsupportedRequest", "This request is not supported."), {}

    # --- admin API -----------------------------------------------------------------------------------------
    def admin(
        self, method: str, action: str, query: str, params: dict, content_type: str, body: bytes
    ) -> AdminAnswer:
        """Content-Type first, then the checksum (query string only), then the JSON body, like Rails."""
        if method == "POST" and body and content_type.split(";")[0].strip().lower() != "application/json":
            return AdminAnswer(
                200,
                render.failed_xml(
                    "unsupportedContentType", "POST request Content-Type is missing or unsupported"
                ),
            )
        given = str(params.get("checksum", ""))
        if not given or not verify(action, _strip_checksum(query, given), given, self._secret):
            return AdminAnswer(200, render.failed_xml(*CHECKSUM_ERROR))
        try:
            document = json.loads(body) if body else {}
        except ValueError:
            return AdminAnswer(400, b'{"error": "invalid JSON body"}', "application/json; charset=utf-8")
        merged = {**params, **(document if isinstance(document, dict) else {})}
        return admin_call(self.world, method, action, merged)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Small answers (health, JSON) would otherwise wait on Nagle's algorithm for the client's delayed
    # ACK: 40+ ms a call on loopback, which a tick health-checking dozens of booting servers pays each time.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - quiet: query strings carry checksums
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def _serve(self, method: str) -> None:
        app: LocalScalelite = self.server.scalelite  # type: ignore[attr-defined]
        if app.latency_s:
            time.sleep(app.latency_s)
        parts = urlsplit(self.path)
        query = parts.query
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if match := _ADMIN_PATH.match(parts.path):
            answer = app.admin(
                method, match.group(1), query, params, self.headers.get("Content-Type", ""), body
            )
            return self._answer(answer.status, answer.body, {}, answer.content_type)
        if match := _NODE_PATH.match(parts.path):
            result = app.node_call(match.group(1), match.group(2), query, params)
            if result is None:
                self.close_connection = True
                return
            return self._answer(*result)
        if match := _LB_PATH.match(parts.path):
            if method == "POST" and match.group(1) == "join":
                return self._answer(404, b"Not Found", {})
            return self._answer(*app.bbb_call(match.group(1), query, params))
        self._answer(404, b"Not Found", {})

    def _answer(self, status: int, body: bytes, headers: dict, content_type: str | None = None) -> None:
        self.send_response(status)
        xml = body.startswith(b"<?xml")
        self.send_header(
            "Content-Type", content_type or ("application/xml; charset=utf-8" if xml else "text/html")
        )
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (its read timeout)
            self.close_connection = True
