"""`bbbscale run` survives any exception of a tick (issue 23, item 2): a RecursionError from one hostile
answer ended the loop (exit 1 in 0.9 s, and again at every restart). Now the tick's exception is said in
one stderr line with its kind, counted in the metrics, and the next tick comes as usual."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

import requests
from prometheus_client.parser import text_string_to_metric_families

from chalicelib import run
from chalicelib.config_file import load_settings


class Exploding:
    """A wiring whose ticks raise, one kind after another."""

    def __init__(self, errors):
        self.errors = list(errors)
        self.calls = 0
        self.clock = lambda: datetime.now(UTC)  # a live clock, as the real adapters' wiring has

    def tick(self, dry_run, now):
        self.calls += 1
        raise self.errors.pop(0)


def test_each_failing_tick_is_said_counted_and_followed_by_the_next(monkeypatch, capsys):
    wiring = Exploding([RecursionError("maximum recursion depth exceeded"), KeyError("x"), MemoryError()])

    @contextmanager
    def for_command(settings, speed=1.0, start=None):
        yield wiring, None

    seen = {}
    from chalicelib.adapters.metrics import prometheus  # run imports `serving` lazily from here

    original = prometheus.serving

    @contextmanager
    def serving(settings):
        with original(settings) as endpoint:
            yield endpoint
            seen["text"] = requests.get(endpoint.url, timeout=5).text

    monkeypatch.setattr(run, "for_command", for_command)
    monkeypatch.setattr(prometheus, "serving", serving)
    settings = load_settings()
    settings = settings.model_copy(
        update={"metrics": settings.metrics.model_copy(update={"address": "127.0.0.1", "port": 0})}
    )
    assert run.run_forever(settings, dry_run=True, max_ticks=3, speed=3000) == 0
    assert wiring.calls == 3
    lines = capsys.readouterr().err.splitlines()
    failed = [line for line in lines if line.startswith("tick failed")]
    assert failed == [
        "tick failed (RecursionError): maximum recursion depth exceeded; next tick as usual",
        "tick failed (KeyError): 'x'; next tick as usual",
        "tick failed (MemoryError): ; next tick as usual",
    ]
    counted = {
        s.labels["kind"]: s.value
        for family in text_string_to_metric_families(seen["text"])
        for s in family.samples
        if s.name == "bbbscale_tick_exceptions_total"
    }
    assert counted == {"RecursionError": 1.0, "KeyError": 1.0, "MemoryError": 1.0}
    (failures,) = [
        s.value
        for family in text_string_to_metric_families(seen["text"])
        for s in family.samples
        if s.name == "bbbscale_tick_failures_total"
    ]
    assert failures == 3.0  # any kind, one series: what the alert reads
