"""A tiny loopback BBB fleet + Scalelite admin API over real HTTP, for integration tests and benchmarks.

Not the full local Scalelite simulator: just enough protocol to test the clients for real. It checks
every checksum the way BBB and Scalelite do (checksum.verify over the call name + the raw query string
without `checksum`), answers with real-shaped XML and Scalelite's admin JSON, and can be told to be
slow, to fail with 503 a few times, or to answer something odd.

    with LoopbackFleet() as fleet:
        bbb = fleet.add_bbb("bbb1", secret="s1", meetings_xml=...)   # at fleet.url + "/bbb1/bigbluebutton/api"
        fleet.scalelite_secret = "lb"                                 # Scalelite at fleet.url + "/bigbluebutton/api"
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from chalicelib.adapters.scalelite.checksum import verify
from tests.support.bbb_xml import render_failed, render_get_meetings, render_recordings

INDEX_XML = (
    "<response><returncode>SUCCESS</returncode><version>2.0</version><apiVersion>2.0</apiVersion>"
    "<bbbVersion>2.7.3</bbbVersion></response>"
)


@dataclass
class FakeBbb:
    """One API endpoint's behaviour. `meetings_xml` is served to getMeetings; `fail_first` requests get
    503; `delay` seconds pass before every answer; `status`, if set, replaces 200."""

    secret: str
    meetings_xml: str = field(default_factory=lambda: render_get_meetings([]))
    recordings: list[str] = field(default_factory=list)
    delay: float = 0.0
    fail_first: int = 0
    status: int | None = None
    no_length: bool = False  # send the body without Content-Length (read until close)
    cut_at: int | None = None  # announce the whole body, send this many bytes, drop the connection
    drip: float = 0.0  # send the body 64 bytes at a time, this many seconds apart
    gzip: bool = False  # send the body gzip-compressed (Content-Encoding: gzip)
    hits: int = 0


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    content_type: str | None
    body: bytes


class LoopbackFleet:
    """The HTTP server (127.0.0.1, ephemeral port) and what it serves."""

    def __init__(self, latency: float = 0.0):
        self.endpoints: dict[str, FakeBbb] = {}
        self.scalelite_secret = "lb-secret"
        self.servers: dict[str, dict] = {}
        self.seen: list[Seen] = []
        self.latency = latency
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"fleet": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
        self.httpd.request_queue_size = 256
        self.httpd.daemon_threads = True
        self.httpd.server_bind()
        self.httpd.server_activate()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> LoopbackFleet:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def scalelite(self) -> FakeBbb:
        """Scalelite's own BBB API (prefix ""), created on first use with the load balancer secret."""
        if "" not in self.endpoints:
            self.endpoints[""] = FakeBbb(self.scalelite_secret)
        return self.endpoints[""]

    def add_bbb(
        self,
        name: str,
        secret: str,
        register: bool = True,
        state: str = "enabled",
        online: bool = True,
        **behaviour,
    ) -> FakeBbb:
        """A BBB server at `<url>/<name>/bigbluebutton/api`, also listed by Scalelite's getServers."""
        self.endpoints[name] = FakeBbb(secret, **behaviour)
        if register:
            self.servers[name] = {
                "id": name,
                "url": f"{self.url}/{name}/bigbluebutton/api",
                "secret": secret,
                "tag": "",
                "bbb_version": "2.7.3",
                "state": state,
                "load": 0.0,
                "load_multiplier": "1.0",
                "online": "online" if online else "offline",
            }
        return self.endpoints[name]

    def record(self, seen: Seen) -> None:
        """Keep one request for the test to inspect (handler threads call this concurrently)."""
        with self._lock:
            self.seen.append(seen)


class _Handler(BaseHTTPRequestHandler):
    fleet: LoopbackFleet
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms Nagle/delayed-ACK stall

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.fleet.record(Seen(self.command, parts.path, parts.query, self.headers.get("Content-Type"), body))
        if self.fleet.latency:
            time.sleep(self.fleet.latency)
        if parts.path.startswith("/scalelite/api/"):
            return self._admin(parts.path.rsplit("/", 1)[1], parts.query, body)
        match = re.fullmatch(
            r"/?(?:(?P<prefix>[^/]+)/)?bigbluebutton/api/?(?P<call>[A-Za-z]*)", parts.path.lstrip("/")
        )
        endpoint = self.fleet.endpoints.get(match["prefix"] or "") if match else None
        if endpoint is None:
            return self._send(404, "text/plain", b"no such endpoint")
        with self.fleet._lock:
            endpoint.hits += 1
            failing = endpoint.hits <= endpoint.fail_first
        if endpoint.delay:
            time.sleep(endpoint.delay)
        if failing:
            return self._send(503, "text/html", b"<html>503 Service Unavailable</html>")
        call = match["call"]
        if not call:
            return self._xml(endpoint, INDEX_XML)
        if not self._checksum_ok(call, parts.query, endpoint.secret):
            return self._xml(
                endpoint, render_failed("checksumError", "You did not pass the checksum security check")
            )
        if call == "getMeetings":
            return self._xml(endpoint, endpoint.meetings_xml)
        if call == "getRecordings":
            states = parse_qs(parts.query).get("state", ["published,unpublished"])[0].split(",")
            return self._xml(endpoint, render_recordings([s for s in endpoint.recordings if s in states]))
        return self._xml(endpoint, render_failed("unsupportedRequest", "This request is not supported."))

    def _checksum_ok(self, call: str, query: str, secret: str) -> bool:
        given = parse_qs(query).get("checksum", [""])[0]
        # Remove the checksum from the raw query string, as Scalelite's query_string_remove_checksum does.
        rest = re.sub(rf"&checksum={given}|checksum={given}&|checksum={given}", "", query) if given else query
        return bool(given) and verify(call, rest, given, secret)

    def _admin(self, action: str, query: str, body: bytes) -> None:
        fleet = self.fleet
        if self.command == "POST" and body and self.headers.get("Content-Type") != "application/json":
            return self._send(
                200,
                "application/xml",
                render_failed(
                    "unsupportedContentType", "POST request Content-Type is missing or unsupported"
                ).encode(),
            )
        if not self._checksum_ok(action, query, fleet.scalelite_secret):
            return self._send(
                200,
                "application/xml",
                render_failed("checksumError", "You did not pass the checksum security check").encode(),
            )
        params = json.loads(body) if body else {}
        params.update({k: v[0] for k, v in parse_qs(query).items() if k != "checksum"})
        server = fleet.servers.get(str(params.get("id")))
        if action == "getServers":
            if not fleet.servers:
                return self._json(404, {"error": "No servers are configured"})
            return self._json(200, list(fleet.servers.values()))
        if action == "addServer":
            wanted = params.get("server") or {}
            new_id = f"srv-{len(fleet.servers) + 1}"
            fleet.servers[new_id] = {
                "id": new_id,
                "url": wanted["url"],
                "secret": wanted["secret"],
                "tag": wanted.get("tag") or "",
                "bbb_version": "",
                "state": "disabled",
                "load": "unavailable",
                "load_multiplier": str(float(wanted.get("load_multiplier") or 1)),
                "online": "offline",
            }
            return self._json(201, fleet.servers[new_id])
        if server is None:
            return self._json(404, {"error": f"Couldn't find server with id={params.get('id')}"})
        if action == "getServerInfo":
            return self._json(200, server)
        if action == "updateServer":
            state = (params.get("server") or {}).get("state")
            if state not in ("enable", "cordon", "disable"):
                return self._json(400, {"error": f"Invalid state parameter: {state}"})
            server["state"] = {"enable": "enabled", "cordon": "cordoned", "disable": "disabled"}[state]
            return self._json(200, server)
        if action == "deleteServer":
            del fleet.servers[server["id"]]
            return self._json(200, {"success": f"Server id={server['id']} was destroyed"})
        if action == "panicServer":
            if not params.get("keep_state"):
                server["state"] = "disabled"
            return self._json(200, {"success": f"Server id={server['id']} has been disabled"})
        return self._send(
            200, "application/xml", render_failed("unsupportedRequest", "no such action").encode()
        )

    def _xml(self, endpoint: FakeBbb, text: str) -> None:
        payload = gzip.compress(text.encode()) if endpoint.gzip else text.encode()
        self.encoding = "gzip" if endpoint.gzip else None
        self._send(
            endpoint.status or 200,
            "application/xml;charset=utf-8",
            payload,
            endpoint.no_length,
            endpoint.cut_at,
            endpoint.drip,
        )

    def _json(self, status: int, doc) -> None:
        self._send(status, "application/json; charset=utf-8", json.dumps(doc).encode())

    def _send(
        self,
        status: int,
        content_type: str,
        payload: bytes,
        no_length: bool = False,
        cut_at: int | None = None,
        drip: float = 0.0,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if getattr(self, "encoding", None):
                self.send_header("Content-Encoding", self.encoding)
            if no_length:
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if drip:
                for start in range(0, len(payload), 64):
                    self.wfile.write(payload[start : start + 64])
                    self.wfile.flush()
                    time.sleep(drip)
                return
            self.wfile.write(payload if cut_at is None else payload[:cut_at])
            if cut_at is not None:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)
