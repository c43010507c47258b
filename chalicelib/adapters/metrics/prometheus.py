"""Metrics on one host: `bbbscale run` serves each tick's figures in Prometheus' text format.

On Lambda the figures leave as CloudWatch EMF (observability.emit_tick_metrics). Here the same function
fills recorders instead of EMF documents, so both sources always carry the same metrics: one EMF name
becomes one Prometheus name, `bbbscale_` + its snake_case (`LoadUnits` -> `bbbscale_load_units`),
with `provider_` before it for the per-provider documents (`Serving` -> `bbbscale_provider_serving`),
the EMF dimensions as labels (`cluster`, `provider`). Gauges hold the last tick's figures, as each EMF
document holds one tick's; a load that could not be read is left out (never zeros), as in EMF.
Per-tick counts (actions, failures) are also summed into `_total` counters, which PromQL's
`increase()` reads without missing or repeating a tick between scrapes. `bbbscale_ticks_total` and
`bbbscale_last_tick_timestamp_seconds` say whether the loop is alive.
"""

from __future__ import annotations

import errno
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from chalicelib.ports import BbbscaleError

PREFIX = "bbbscale_"
#: EMF names whose per-tick values are also summed into a `_total` counter.
CUMULATIVE = frozenset({"Actions", "Failures"})


def prometheus_name(emf_name: str, per_provider: bool) -> str:
    """`LoadUnits` -> `bbbscale_load_units`; per provider, `Serving` -> `bbbscale_provider_serving`."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", emf_name).lower()
    return PREFIX + ("provider_" if per_provider else "") + snake


class TickDocument:
    """Stands in for an EMF document (the part of powertools' Metrics that emit_tick_metrics uses):
    records dimensions and one value per metric name, and hands itself over when flushed."""

    def __init__(self, documents: list[TickDocument]):
        self.dimensions: dict[str, str] = {}
        self.values: dict[str, float] = {}
        self._documents = documents

    def add_dimension(self, name: str, value: str) -> None:
        self.dimensions[name] = str(value)

    def add_metric(self, name: str, unit=None, value: float = 0.0, **_ignored) -> None:
        self.values[name] = float(value)

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        self._documents.append(self)


class TickMetrics:
    """A Prometheus collector of the last tick's figures and of running totals (see module doc).
    `record` is called by the run loop after each tick, `collect` by the HTTP server's thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last: list[TickDocument] = []
        self._totals: dict[tuple[str, tuple[str, ...], tuple[str, ...]], float] = {}
        self._ticks: dict[str, int] = {}
        self._at: dict[str, float] = {}
        self._crashes: dict[tuple[str, str], int] = {}

    def crashed(self, kind: str, cluster: str) -> None:
        """Count a tick that ended in an exception of this kind (`bbbscale run` goes on)."""
        with self._lock:
            self._crashes[(cluster, kind)] = self._crashes.get((cluster, kind), 0) + 1

    def record(self, tick_result: dict, cluster: str, at: float | None = None) -> None:
        """Take one tick result (docs/contract.md `tick --json`) as emit_tick_metrics sees it."""
        from chalicelib.observability import emit_tick_metrics

        documents: list[TickDocument] = []
        totals = TickDocument(documents)
        emit_tick_metrics(totals, tick_result, cluster, new_document=lambda: TickDocument(documents))  # type: ignore[arg-type]
        documents.insert(0, totals)  # the cluster's document first (EMF flushes it last)
        with self._lock:
            self._last = documents
            for document in documents:
                per_provider = "provider" in document.dimensions
                labels = tuple(sorted(document.dimensions))
                for name, value in document.values.items():
                    if name in CUMULATIVE:
                        key = (
                            prometheus_name(name, per_provider) + "_total",
                            labels,
                            self._values(document, labels),
                        )
                        self._totals[key] = self._totals.get(key, 0.0) + value
            self._ticks[cluster] = self._ticks.get(cluster, 0) + 1
            self._at[cluster] = time.time() if at is None else at

    @staticmethod
    def _values(document: TickDocument, labels: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(document.dimensions[label] for label in labels)

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self._lock:
            last, totals = list(self._last), dict(self._totals)
            ticks, at, crashes = dict(self._ticks), dict(self._at), dict(self._crashes)
        gauges: dict[str, GaugeMetricFamily] = {}
        for document in last:
            per_provider = "provider" in document.dimensions
            labels = tuple(sorted(document.dimensions))
            for name, value in document.values.items():
                metric = prometheus_name(name, per_provider)
                family = gauges.setdefault(
                    metric, GaugeMetricFamily(metric, f"{name} at the last tick (EMF {name})", labels=labels)
                )
                family.add_metric(self._values(document, labels), value)
        yield from gauges.values()
        counters: dict[str, CounterMetricFamily] = {}
        for (metric, labels, values), value in sorted(totals.items()):
            base = metric.removesuffix("_total")
            family = counters.setdefault(
                metric, CounterMetricFamily(base, f"sum over ticks of {base}", labels=labels)
            )
            family.add_metric(values, value)
        yield from counters.values()
        done = CounterMetricFamily("bbbscale_ticks", "capacity checks run", labels=("cluster",))
        last_at = GaugeMetricFamily(
            "bbbscale_last_tick_timestamp_seconds",
            "when the last tick ended (unix time)",
            labels=("cluster",),
        )
        for cluster in sorted(ticks):
            done.add_metric((cluster,), ticks[cluster])
            last_at.add_metric((cluster,), at[cluster])
        yield done
        yield last_at
        failed = CounterMetricFamily(
            "bbbscale_tick_exceptions",
            "ticks that ended in an exception, by its kind (the loop went on)",
            labels=("cluster", "kind"),
        )
        for (cluster, kind), count in sorted(crashes.items()):
            failed.add_metric((cluster, kind), count)
        yield failed


class MetricsEndpoint:
    """The HTTP endpoint (prometheus_client's own server, in a daemon thread): GET /metrics.

    A port already taken is not fatal: README's standby — a second `bbbscale run` on the same host
    and SQLite file, kept from acting by the lease — finds the first one's endpoint there. It says so
    once and tries again after each tick, so it takes the port over when the first one stops. Any
    other failure to listen (an address not on this host, a port it may not use) is a clear error."""

    def __init__(self, collector: TickMetrics, address: str, port: int):
        from prometheus_client import CollectorRegistry

        self.collector = collector
        self.address, self.port = address, port
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(collector)  # type: ignore[arg-type]
        self._server = None

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

    def record(self, tick_result: dict, cluster: str) -> None:
        """Take a tick's figures; serve them from now on if the port has come free."""
        self.collector.record(tick_result, cluster)
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
