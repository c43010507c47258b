"""A loopback HTTP server for provider fakes: subclasses answer `handle(...)`; every request is
recorded (method, path, query, headers, body) so tests can assert what the adapter sent, and any
request can be made to fail (`fail_request`) to test what a failure at that step leaves behind."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Request:
    def __init__(self, method, path, query, headers, body):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body

    def json(self):
        return json.loads(self.body or b"{}")

    def __repr__(self):
        return f"<{self.method} {self.path}>"


class LoopbackApi:
    """Serve on 127.0.0.1:<ephemeral>; `url` is the base. Use as a context manager."""

    def __init__(self):
        self.requests: list[Request] = []
        self.faults: dict[int, tuple[int, bool]] = {}  # request number -> (status, carried out first)
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm and the
            # client's delayed ACK hold every answer ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                request = Request(self.command, parts.path, query, dict(self.headers), body)
                with api.lock:
                    api.requests.append(request)
                    request.number = len(api.requests)
                status, headers, payload = api.respond(request)
                if not isinstance(payload, (bytes, str)):
                    payload = json.dumps(payload)
                    headers = {"Content-Type": "application/json", **headers}
                payload = payload.encode() if isinstance(payload, str) else payload
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def respond(self, request: Request):
        with self.lock:
            fault = self.faults.pop(getattr(request, "number", 0), None)
            if fault is None:
                return self.handle(request)
            status, after = fault
            if after:  # the call is carried out, its answer lost
                self.handle(request)
            return status, {}, {"message": "injected fault", "errorresponse": {"errortext": "injected fault"}}

    def fail_request(self, number: int, status: int = 400, after: bool = False) -> None:
        """Answer the `number`-th request (1-based, counted from now on) with `status` instead of
        handling it; with `after`, handle it first (it happens) and lose its answer."""
        self.faults[len(self.requests) + number] = (status, after)

    def handle(self, request: Request):
        """Return (status, headers, body): body as bytes/str, or any JSON-able value."""
        raise NotImplementedError

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def sent(self, method: str, fragment: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and fragment in r.path]
