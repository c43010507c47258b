"""Metrics on one host: `bbbscale run` serves each tick's figures in Prometheus' formats (text and
OpenMetrics, as the scraper asks).

On Lambda the figures leave as CloudWatch EMF (observability.emit_tick_metrics); here the same tick
result (docs/contract.md `tick --json`) feeds prometheus_client's own metric objects in a registry of
their own, named by Prometheus' conventions: base units, ratios 0-1 (the herding CVs: EMF's percent /
100), `_total` only on counters (the library adds it), a server's state as the `state` label. The
library refuses two metrics of one name, so a gauge and a counter can never share a family again.
`EMF_TO_PROMETHEUS` maps each EMF figure to the series that carries it (tests hold both to it).

Gauges hold the last tick's figures, as each EMF document holds one tick's; a load that could not be
read is left out (never zeros), as in EMF. Per-tick counts (actions, failures, the guard's changes)
are counters, which `increase()` reads without missing or repeating a tick between scrapes.
`bbbscale_ticks_total` and `bbbscale_last_tick_timestamp_seconds` say whether the loop is alive.
"""

from __future__ import annotations

import errno
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from chalicelib.domain.tick_document import load_unknown
from chalicelib.ports import BbbscaleError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

#: load field of the tick document -> gauge name (EMF: LoadUnits, Rooms, Participants, Mics, Webcams).
LOAD_GAUGES = {
    "load_units": ("bbbscale_load_units", "the load in load units (one ~ a typical participant)"),
    "meetings": ("bbbscale_rooms", "rooms (meetings) running"),
    "participants": ("bbbscale_participants", "participants in all rooms"),
    "voice": ("bbbscale_mics", "participants with an open mic"),
    "video_streams": ("bbbscale_webcams", "webcam streams published"),
}
#: EMF metric (per-provider documents marked `provider:`) -> (Prometheus series, its fixed labels,
#: factor from EMF's value): what docs/metrics.md's table says, and what the tests check a scrape by.
EMF_TO_PROMETHEUS: dict[str, tuple[str, dict[str, str], float]] = {
    "LoadUnits": ("bbbscale_load_units", {}, 1.0),
    "Rooms": ("bbbscale_rooms", {}, 1.0),
    "Participants": ("bbbscale_participants", {}, 1.0),
    "Mics": ("bbbscale_mics", {}, 1.0),
    "Webcams": ("bbbscale_webcams", {}, 1.0),
    "HerdingRoomsCV": ("bbbscale_herding_rooms_cv_ratio", {}, 0.01),
    "HerdingLoadCV": ("bbbscale_herding_load_cv_ratio", {}, 0.01),
    "OverloadedServers": ("bbbscale_herding_overloaded_servers", {}, 1.0),
    "TickSeconds": ("bbbscale_tick_duration_seconds", {}, 1.0),
    "LoadUnknown": ("bbbscale_load_unknown", {}, 1.0),
    "provider:Desired": ("bbbscale_desired_servers", {}, 1.0),
    "provider:Serving": ("bbbscale_servers", {"state": "serving"}, 1.0),
    "provider:Booting": ("bbbscale_servers", {"state": "booting"}, 1.0),
    "provider:Draining": ("bbbscale_servers", {"state": "draining"}, 1.0),
}
#: Per-tick counts, summed into counters (EMF: Actions, Failures, GuardChanges per tick).
COUNTERS = {
    "Actions": "bbbscale_actions_total",
    "Failures": "bbbscale_action_failures_total",
    "GuardChanges": "bbbscale_guard_changes_total",
}
STATES = ("serving", "booting", "draining")


def _failed(action: dict) -> bool:
    return str(action.get("result", "")).startswith("failed")


class TickMetrics:
    """The last tick's figures and running totals as prometheus_client metrics, in `registry`.
    `record` is called by the run loop after each tick; the HTTP server's thread reads the registry."""

    def __init__(self, registry=None):
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r, cluster, per_provider = self.registry, ["cluster"], ["cluster", "provider"]
        self._lock = threading.Lock()
        self._load = {
            field: Gauge(name, doc, cluster, registry=r) for field, (name, doc) in LOAD_GAUGES.items()
        }
        self._rooms_cv = Gauge(
            "bbbscale_herding_rooms_cv_ratio",
            "after the last burst the guard measured: coefficient of variation of rooms per server (0-1)",
            cluster,
            registry=r,
        )
        self._load_cv = Gauge(
            "bbbscale_herding_load_cv_ratio",
            "after the last burst the guard measured: coefficient of variation of load per server (0-1)",
            cluster,
            registry=r,
        )
        self._overloaded = Gauge(
            "bbbscale_herding_overloaded_servers",
            "after the last burst the guard measured: servers past their capacity",
            cluster,
            registry=r,
        )
        self._desired = Gauge(
            "bbbscale_desired_servers", "servers desired per provider", per_provider, registry=r
        )
        self._servers = Gauge(
            "bbbscale_servers", "servers per provider and state", [*per_provider, "state"], registry=r
        )
        self._actions = Counter("bbbscale_actions", "actions taken (holds aside)", per_provider, registry=r)
        self._failures = Counter("bbbscale_action_failures", "actions that failed", per_provider, registry=r)
        self._guard = Counter(
            "bbbscale_guard_changes", "cordons and enables by the burst guard", cluster, registry=r
        )
        self._guard_failures = Counter(
            "bbbscale_guard_failures",
            "failures the burst guard survived (it starts again after a backoff; stderr says why)",
            cluster,
            registry=r,
        )
        self._measured = Counter(
            "bbbscale_herding_measurements", "bursts whose spread the guard measured", cluster, registry=r
        )
        self._ticks = Counter("bbbscale_ticks", "capacity checks run", cluster, registry=r)
        self._exceptions = Counter(
            "bbbscale_tick_exceptions",
            "ticks that ended in an exception, by its kind (bbbscale run goes on)",
            [*cluster, "kind"],
            registry=r,
        )
        self._tick_failures = Counter(
            "bbbscale_tick_failures",
            "ticks that ended in an exception, any kind (there at 0 from the start: increase() sees the first)",
            cluster,
            registry=r,
        )
        self._duration = Gauge(
            "bbbscale_tick_duration_seconds",
            "how long the last tick took, wall clock (past the interval: the next one finds the lease held)",
            cluster,
            registry=r,
        )
        self._unknown = Gauge(
            "bbbscale_load_unknown",
            "1 when the last tick that ran could not read the load (every scale-down held), else 0",
            cluster,
            registry=r,
        )
        self._last = Gauge(
            "bbbscale_last_tick_timestamp_seconds",
            "when the last tick ended (unix time)",
            cluster,
            registry=r,
        )
        self._providers: dict[str, set[str]] = {}

    def begin(self, cluster: str) -> None:
        """The failure counters of `cluster`, at 0 before the first tick: a counter's series that starts
        at 1 shows no increase() (Prometheus has no sample before it), so the first failure, or a first
        tick that fails, would raise no alert."""
        with self._lock:
            self._failures_at_zero(cluster)

    def _failures_at_zero(self, cluster: str) -> None:
        self._guard_failures.labels(cluster).inc(0)
        self._tick_failures.labels(cluster).inc(0)

    def guard_failed(self, cluster: str) -> None:
        """Count a failure the burst guard survived. Its kind is on stderr: one series per cluster, there at
        0 from `begin` (or the first tick), so increase() sees the first failure."""
        with self._lock:
            self._guard_failures.labels(cluster).inc()

    def crashed(self, kind: str, cluster: str) -> None:
        """Count a tick that ended in an exception of this kind (`bbbscale run` goes on)."""
        with self._lock:
            self._exceptions.labels(cluster, kind).inc()
            self._tick_failures.labels(cluster).inc()

    def record(
        self, tick_result: dict, cluster: str, at: float | None = None, seconds: float | None = None
    ) -> None:
        """Take one tick result (docs/contract.md `tick --json`) and its wall-clock `seconds`: the
        figures emit_tick_metrics sends to EMF, into the metrics above."""
        with self._lock:
            load = tick_result.get("load")
            unknown = load_unknown(tick_result)
            if unknown is not None:  # a tick that found the lease held read nothing: the last one's stays
                self._unknown.labels(cluster).set(int(unknown))
            for field, gauge in self._load.items():
                if load:
                    gauge.labels(cluster).set(float(load.get(field, 0)))
                else:
                    _forget(gauge, cluster)
            herding = tick_result.get("herding")
            if herding:
                self._rooms_cv.labels(cluster).set(float(herding["rooms_cv"]))
                self._load_cv.labels(cluster).set(float(herding["load_cv"]))
                self._overloaded.labels(cluster).set(float(herding["overloaded"]))
                self._measured.labels(cluster).inc()
            self._guard.labels(cluster).inc(len(tick_result.get("guard") or []))
            self._failures_at_zero(cluster)  # a collector no `begin` started: from the first tick on
            desired, fleet = tick_result.get("desired") or {}, tick_result.get("fleet") or {}
            actions = [a for a in tick_result.get("actions", []) if a.get("action") != "hold"]
            providers = set(desired) | set(fleet)
            for gone in self._providers.get(cluster, set()) - providers:
                _forget(self._desired, cluster, gone)
                for state in STATES:
                    _forget(self._servers, cluster, gone, state)
            self._providers[cluster] = providers
            for provider in sorted(providers):
                if provider in desired:
                    self._desired.labels(cluster, provider).set(desired[provider])
                else:
                    _forget(self._desired, cluster, provider)
                for state in STATES:
                    self._servers.labels(cluster, provider, state).set(fleet.get(provider, {}).get(state, 0))
                own = [a for a in actions if a.get("provider") == provider]
                self._actions.labels(cluster, provider).inc(len(own))
                self._failures.labels(cluster, provider).inc(sum(map(_failed, own)))
            self._ticks.labels(cluster).inc()
            if seconds is not None:
                self._duration.labels(cluster).set(round(seconds, 3))
            self._last.labels(cluster).set(time.time() if at is None else at)


def _forget(metric, *labels: str) -> None:
    """Drop one labelled series (absent, not zero), if it exists."""
    try:
        metric.remove(*labels)
    except KeyError:
        pass


class MetricsEndpoint:
    """The HTTP endpoint (prometheus_client's own server, in a daemon thread): GET /metrics.

    A port already taken is not fatal: README's standby — a second `bbbscale run` on the same host
    and SQLite file, kept from acting by the lease — finds the first one's endpoint there. It says so
    once and tries again after each tick, so it takes the port over when the first one stops. Any
    other failure to listen (an address not on this host, a port it may not use) is a clear error."""

    def __init__(self, collector: TickMetrics, address: str, port: int):
        self.collector = collector
        self.address, self.port = address, port
        self._registry = collector.registry
        self._server: WSGIServer | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/metrics"

    def listen(self) -> bool:
        """Start serving if not yet; False while the port is taken by another process."""
        from prometheus_client import start_http_server

        if self._server is None:
            try:
                self._server, _thread = start_http_server(
                    self.port, addr=self.address, registry=self._registry
                )
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return False
                raise MetricsEndpointError(
                    f"metrics endpoint {self.address}:{self.port}: {error.strerror or error} "
                    "(set [metrics] address and port, or enabled = false)"
                ) from None
            self.port = self._server.server_port
        return True

    def record(self, tick_result: dict, cluster: str, seconds: float | None = None) -> None:
        """Take a tick's figures; serve them from now on if the port has come free."""
        self.collector.record(tick_result, cluster, seconds=seconds)
        if not self.listening and self.listen():
            print(f"metrics: {self.url} (the port came free)", file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class MetricsEndpointError(BbbscaleError):
    """The metrics endpoint cannot listen where `[metrics]` says (not a port merely in use)."""


@contextmanager
def serving(settings) -> Iterator[MetricsEndpoint | None]:
    """The endpoint `[metrics]` asks for, listening while the block runs (its address, or why it
    waits, said on stderr); None when it is switched off."""
    if not settings.enabled:
        yield None
        return
    endpoint = MetricsEndpoint(TickMetrics(), settings.address, settings.port)
    if endpoint.listen():
        print(f"metrics: {endpoint.url}", file=sys.stderr, flush=True)
    else:
        print(
            f"metrics: {endpoint.address}:{endpoint.port} is in use (another bbbscale run?); "
            "trying again after each tick",
            file=sys.stderr,
            flush=True,
        )
    try:
        yield endpoint
    finally:
        endpoint.stop()
