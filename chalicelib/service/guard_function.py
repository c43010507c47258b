"""The burst guard on AWS: its own Lambda function (`burst_guard` in app.py), started asynchronously by
the capacity check when a class start is near or the load rises like a surge, looking until its run's
end within Lambda's 15 minutes (the loop itself is chalicelib/service/guard.py's BurstGuard, held to
the fleet's guard lease by chalicelib/service/guard_lease.py).

Chained runs hand over without a gap: the capacity check starts the next run `HANDOVER` before the
current one ends (the function's reserved concurrency is 2: one looking, the next one waiting), and the
next run stands by for the guard lease, which the current run releases when it ends, so it looks within
a second of the last look of the one before. A run that dies or times out renews nothing: the waiting
run takes over once the lease has run out, and the cordons it left expire (the guard's own rule).

Only the capacity check writes the run marker (`store.guard_runs`, a GuardRun: which run was started,
until when, and when), so no run's end can clear the marker of the run after it; whether a started run is
alive is the guard lease's to say.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from chalicelib.credentials import mask_credentials
from chalicelib.domain.kept import GuardRun, LoadReading
from chalicelib.domain.slots import SlotClock
from chalicelib.ports import HistoryEntry, StateStore
from chalicelib.service.fleet_ports import FleetPorts
from chalicelib.service.guard_lease import keep_guarding, report_line

log = logging.getLogger("bbbscale.guard")

#: The next run is started this long before the current one ends (a capacity check may run late).
HANDOVER = timedelta(minutes=2)
#: A run started this recently counts as coming even before it holds the guard lease (its cold start).
START_GRACE = timedelta(minutes=2)
#: How often a run waiting for the lease tries it: the handover's gap at most.
HANDOVER_POLL_SECONDS = 0.5


def _covered(store: StateStore, now: datetime) -> bool:
    """True while a started run will look past the handover time: it holds the guard lease (or another
    guard does, the run before it), or it was started so recently that it may not hold it yet."""
    running = store.guard_runs.last_run()
    if running is None:
        return False
    if not running.run:  # an older version's run (no guard lease): trusted until its end
        return running.until > now + HANDOVER
    if running.until <= now + HANDOVER:
        return False
    if running.started and running.started + START_GRACE > now:
        return True
    return store.guard_lease.holder(now) is not None


def guard_due(settings, store: StateStore, now: datetime, load_units: float | None = None) -> str | None:
    """Why the guard function should run from now (a class start within `before_slot_minutes` plus a
    minute for the function to start, or in its window; or the load rising as fast as a surge), or
    None. Records the load for the next check's surge test."""
    s = settings.guard
    if not s.enabled:
        return None
    surge = None
    last = store.guard_runs.last_load()
    if load_units is not None:
        if last is not None:
            minutes = (now - last.at).total_seconds() / 60
            if 0 < minutes <= 5 and (load_units - last.units) / minutes >= s.surge_load_per_minute:
                surge = f"load rising {(load_units - last.units) / minutes:.0f} units a minute"
        store.guard_runs.note_load(LoadReading(now, load_units))
    if _covered(store, now):
        return None
    before = timedelta(minutes=s.before_slot_minutes + 1)
    after = timedelta(minutes=s.after_slot_minutes)
    for start in SlotClock(settings).starts_around(now):
        if start - before <= now <= start + after:
            return f"class start at {start.strftime('%H:%M')}"
    return surge


def start_guard_run(
    settings, store: StateStore, now: datetime, invoke, load_units: float | None = None
) -> dict | None:
    """Start the guard function (asynchronously, through `invoke(payload)`) when it is due and no run
    covers the time after the handover; records the run. Returns what was started (or what failed to
    start, with why: in the history and the next tick's report too), or None."""
    reason = guard_due(settings, store, now, load_units)
    if reason is None:
        return None
    until = now + timedelta(minutes=settings.guard.max_run_minutes)
    payload = {"until": until.isoformat(), "reason": reason, "run": uuid.uuid4().hex[:12]}
    try:
        invoke(payload)
    except Exception as error:  # noqa: BLE001 - the tick has done its work; the next one tries again
        said = mask_credentials(f"{type(error).__name__}: {error}")[:300]
        log.error("burst guard not started: %s", said)
        line = f"burst guard not started ({reason}): {said}"
        report_line(store, now, line, {**payload, "error": said})
        return {**payload, "started": False, "error": said}
    store.guard_runs.note_run(GuardRun(until, payload["run"], now))
    store.history.record(
        HistoryEntry(now, "guard", f"guard started until {until.strftime('%H:%M')}: {reason}", payload)
    )
    return {**payload, "started": True}


def _until(value) -> datetime | None:
    """The payload's `until`: an ISO 8601 moment; without an offset, UTC (a hand-made invoke's
    "2026-12-07T09:12:05" was compared with an aware clock, failed, and the run went on to its limit)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value)[:40])
    except ValueError:
        log.warning("guard run: until %r is not an ISO 8601 moment: ignored", str(value)[:40])
        return None
    if moment.tzinfo is None:
        log.warning("guard run: until %s has no offset: read as UTC", moment.isoformat())
        moment = moment.replace(tzinfo=UTC)
    return moment


def run_guard_function(
    ports: FleetPorts, event: dict, remaining_seconds: float, sleep, failed=lambda kind: None
) -> dict:
    """One run of the guard function: look until the event's `until`, within the Lambda's remaining
    time (a margin kept: 20 s, or a tenth of a shorter time), while it holds the fleet's guard lease
    (waiting for it first when the run before still looks); then release it and say what it did.
    `failed` gets the kind of each failure the run survives, as it happens (app.py: a GuardFailures
    figure at once, not at the run's end 14 minutes later)."""
    now = ports.clock()
    until = now + timedelta(minutes=ports.settings.guard.max_run_minutes)
    if not isinstance(event, dict):  # a hand-made invoke: "x", [], 42
        log.warning("guard run: payload is not a JSON object (%s): ignored", type(event).__name__)
        event = {}
    asked = _until(event.get("until"))
    if asked is not None:
        until = min(until, asked)
    margin = min(20.0, remaining_seconds / 10)
    until = min(until, now + timedelta(seconds=max(0.0, remaining_seconds - margin)))
    if not ports.settings.guard.enabled:
        return {"looks": 0, "changes": 0, "reason": "guard disabled"}
    run = str(event.get("run") or uuid.uuid4().hex[:12])[:40]
    done = keep_guarding(
        ports,
        until,
        sleep,
        ports.clock,
        owner=f"guard-run-{run}",
        say=lambda line: log.warning("%s", line),
        standby_seconds=HANDOVER_POLL_SECONDS,
        failed=failed,
    )
    return {
        "looks": done.looks,
        "changes": done.changes,
        "until": until.isoformat(),
        "run": run,
        "held": done.held,
        "waited_seconds": round(done.waited_seconds, 1),
        "failures": done.failures,
        "lost": done.lost,
    }
