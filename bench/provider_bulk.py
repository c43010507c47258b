"""Benchmark: bulk VM creations through the adapter base against a slow, rate-limited loopback API.

The loopback "provider" answers each creation after `--latency` seconds and refuses (HTTP 429) any
call beyond `--limit` started in the last second, like a real cloud API under throttling. The same
adapter code path (HostedProvider.create -> bulk.create_many -> one HTTP POST per VM) is timed:
  * bulk: the configured concurrency and a token bucket at the provider's limit;
  * sequential: concurrency 1, measured on a sample and extrapolated (stated in the output);
  * unbounded: concurrency 32, no client-side rate limit (throttled, retried with backoff).
Usage: python bench/provider_bulk.py [--count 300] [--sample 20] [--latency 1] [--limit 10]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.adapters.providers.base import HostedProvider  # noqa: E402
from chalicelib.config import ProviderSettings  # noqa: E402
from chalicelib.ports import LaunchSpec, ProviderContext, ProviderError  # noqa: E402


class SlowApi:
    """Loopback API: `latency` s per call, 429 beyond `limit` calls started per sliding second."""

    def __init__(self, latency: float, limit: int):
        self.latency, self.limit = latency, limit
        self.started: collections.deque = collections.deque()
        self.accepted = self.throttled = 0
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                with api.lock:
                    while api.started and now - api.started[0] >= 1.0:
                        api.started.popleft()
                    allowed = len(api.started) < api.limit
                    if allowed:
                        api.started.append(now)
                        api.accepted += 1
                    else:
                        api.throttled += 1
                if allowed:
                    time.sleep(api.latency)
                body = b'{"id": "vm"}' if allowed else b'{"message": "too many requests"}'
                self.send_response(201 if allowed else 429)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/servers"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class LoopbackProvider(HostedProvider):
    """One POST per creation, 429 mapped to a retryable ProviderError (as the real adapters do)."""

    kind = "loopback"
    url = ""

    def list(self):
        return []  # the loopback API keeps nothing to list (failed creations leave nothing to sweep)

    def _create_one(self, spec):
        import requests

        response = requests.post(self.url, json={"name": spec.name}, timeout=30)
        if response.status_code != 201:
            raise ProviderError(f"HTTP {response.status_code}", retryable=response.status_code == 429)
        return self.vm(spec.name, spec.name, "pending", spec.tags, None)


def run(api: SlowApi, count: int, concurrency: int, rate: float, retries: int = 6) -> dict:
    options = LoopbackProvider.Options(
        concurrency=concurrency, rate_per_second=rate, retries=retries, backoff_seconds=0.5
    )
    context = ProviderContext(
        "bench", lambda: datetime.now(UTC), {"BBBSCALE_SERVER_SECRET_KEY": "bench-key"}.get
    )
    provider = LoopbackProvider("lb", ProviderSettings(kind="loopback"), options, context)
    provider.url = api.url
    accepted, throttled = api.accepted, api.throttled
    started = time.perf_counter()
    try:
        created = len(provider.create([LaunchSpec(name=f"bbbscale-bench-lb-{n}") for n in range(count)]))
    except ProviderError:
        created = 0
    return {
        "count": count,
        "created": created,
        "seconds": round(time.perf_counter() - started, 2),
        "calls": api.accepted - accepted,
        "throttled": api.throttled - throttled,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--sample", type=int, default=20, help="sequential creations actually run")
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    api = SlowApi(args.latency, args.limit)
    bulk = run(api, args.count, args.concurrency, args.limit)
    time.sleep(1.1)
    sequential = run(api, args.sample, 1, 1000)
    sequential["extrapolated_seconds"] = round(sequential["seconds"] * args.count / args.sample, 1)
    time.sleep(1.1)
    unbounded = run(api, args.count, 32, 1000)
    print(
        json.dumps(
            {
                "latency_s": args.latency,
                "limit_per_s": args.limit,
                "bulk": bulk,
                "sequential_sample": sequential,
                "unbounded": unbounded,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
