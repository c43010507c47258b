"""The burst guard on AWS: its own Lambda function (`burst_guard` in app.py), started asynchronously by
the capacity check when a class start is near or the load rises like a surge, looking until its run's
end within Lambda's 15 minutes (the loop itself is chalicelib/service/guard.py's BurstGuard)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from chalicelib.domain.slots import SlotClock
from chalicelib.ports import HistoryEntry, StateStore
from chalicelib.service.fleet_ports import FleetPorts
from chalicelib.service.guard import burst_guard

log = logging.getLogger("bbbscale.guard")

GUARD_RUNNING = "guard_running_until"  # the end of the guard function's current run (ISO), if any
LAST_LOAD = "guard_last_load"  # the capacity check's last load, to see a surge between two checks


def guard_due(settings, store: StateStore, now: datetime, load_units: float | None = None) -> str | None:
    """Why the guard function should run from now (a class start within `before_slot_minutes` plus a
    minute for the function to start, or in its window; or the load rising as fast as a surge), or
    None. Records the load for the next check's surge test."""
    s = settings.guard
    if not s.enabled:
        return None
    kept = store.settings
    surge = None
    last = kept.get(LAST_LOAD, None)
    if load_units is not None:
        if isinstance(last, list) and len(last) == 2:
            minutes = (now - datetime.fromisoformat(last[0])).total_seconds() / 60
            if 0 < minutes <= 5 and (load_units - float(last[1])) / minutes >= s.surge_load_per_minute:
                surge = f"load rising {(load_units - float(last[1])) / minutes:.0f} units a minute"
        kept.put(LAST_LOAD, [now.isoformat(), load_units])
    running = kept.get(GUARD_RUNNING, None)
    if running and datetime.fromisoformat(running) > now + timedelta(minutes=1):
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
    """Start the guard function (asynchronously, through `invoke(payload)`) when it is due and not
    running; records the run. Returns what was started, or None."""
    reason = guard_due(settings, store, now, load_units)
    if reason is None:
        return None
    until = now + timedelta(minutes=settings.guard.max_run_minutes)
    payload = {"until": until.isoformat(), "reason": reason}
    try:
        invoke(payload)
    except Exception as error:  # noqa: BLE001 - the tick has done its work; the next one tries again
        log.warning("guard not started: %s", type(error).__name__)
        return {**payload, "started": False, "error": type(error).__name__}
    store.settings.put(GUARD_RUNNING, until.isoformat())
    store.history.record(
        HistoryEntry(now, "guard", f"guard started until {until.strftime('%H:%M')}: {reason}", payload)
    )
    return {**payload, "started": True}


def run_guard_function(ports: FleetPorts, event: dict, remaining_seconds: float, sleep) -> dict:
    """One run of the guard function: look until the event's `until`, within the Lambda's remaining
    time (a margin kept: 20 s, or a tenth of a shorter time), then say it stopped."""
    now = ports.clock()
    until = now + timedelta(minutes=ports.settings.guard.max_run_minutes)
    try:
        until = min(until, datetime.fromisoformat(str(event.get("until"))))
    except ValueError:
        pass
    margin = min(20.0, remaining_seconds / 10)
    until = min(until, now + timedelta(seconds=max(0.0, remaining_seconds - margin)))
    guard = burst_guard(ports)
    if guard is None:
        return {"looks": 0, "changes": 0, "reason": "guard disabled"}
    try:
        guard.run(until, sleep, ports.clock)
    finally:
        ports.store.settings.put(GUARD_RUNNING, None)
    return {"looks": guard.looks, "changes": guard.changes, "until": until.isoformat()}
