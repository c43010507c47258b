"""What the burst guard keeps in the state store for others to read (its ledger and readings,
chalicelib/state_ports.py): its cordons (which the tick's reconciliation tells apart from drains, each
with an expiry the guard's looks renew), the change lines and the spread the next tick reports once,
its failed looks, and what `status` shows of it. The tick enables the cordons no live guard renewed
(`release_expired`): a guard that died or timed out leaves nothing cordoned for longer than
`[guard] cordon_ttl_seconds`."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.domain.kept import GuardCordon, GuardHealth
from chalicelib.ports import BbbscaleError, HistoryEntry, StateStore

log = logging.getLogger("bbbscale.guard")


def _when(text) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None


def live(entry: GuardCordon, now: datetime) -> bool:
    """A guard cordon still held by a live guard: not released, its expiry not passed."""
    until = _when(entry.get("until"))
    return not entry.get("released") and until is not None and until > now


def renew(held: dict[str, GuardCordon], now: datetime, ttl_seconds: float) -> bool:
    """Push the expiry of each cordon the guard holds to `now + ttl` once half of it has passed (a
    store write every minute, not every look); True when anything changed."""
    changed = False
    for entry in held.values():
        until = _when(entry.get("until"))
        if not entry.get("released") and (until is None or until < now + timedelta(seconds=ttl_seconds / 2)):
            entry["until"] = (now + timedelta(seconds=ttl_seconds)).isoformat()
            changed = True
    return changed


def owner_of(entry: GuardCordon, state: str, empty: bool, by_poller: bool = False) -> bool | None:
    """Whose is a server's present `state`, given the guard's record of it. True: the guard's (it
    cordoned it, or the poller disabled its cordon once empty, as Scalelite does at load 0: `by_poller`,
    it turned disabled while a poll round was saving servers): it may enable it. False: the guard
    enabled it and it is enabled. None: someone else (an operator, the capacity check) changed it since:
    the guard lets it be."""
    if state == "disabled":
        return True if empty and by_poller else None
    if entry.get("released"):
        return False if state == "enabled" else None
    return True if state == "cordoned" else None


def note_failure(store: StateStore, now: datetime, error: Exception, count: int) -> None:
    """Count a failed look where `status` shows it, and tell the next tick's report (once a minute at
    most: a failure that repeats at every look is one line a minute, not sixty)."""
    text = f"{type(error).__name__}: {error}"[:300]
    try:
        previous = store.guard_readings.health().at
        store.guard_readings.note_health(GuardHealth(count, text, now))
        if previous is None or now - previous >= timedelta(minutes=1):
            store.guard_ledger.report([f"a look failed and was skipped ({count} so far): {text}"])
    except BbbscaleError as failure:  # the store too: the count stays in memory, the guard goes on
        log.warning("guard: could not record a failed look: %s", failure)


def release_expired(scalelite, store: StateStore, registered: dict | None, now: datetime) -> dict | None:
    """The capacity check's part: enable every guard cordon whose expiry passed (no live guard renewed
    it), drop it from the record, say so in the history and the next report. Returns Scalelite's list
    (by URL) with those servers now enabled. Without Scalelite's list it changes nothing."""
    held = store.guard_ledger.cordons()
    if not held or registered is None:
        return registered
    by_id = {s.id: (url, s) for url, s in registered.items()}
    out, lines, changed = dict(registered), [], False
    for server_id, entry in list(held.items()):
        if (
            entry.get("released")
            or live(entry, now)
            or (entry.get("until") is None and entry.get("at") is None)
        ):
            continue
        found = by_id.get(server_id)
        name = entry.get("name", server_id)
        # Only a cordon: a disabled server may be an operator's (the poller's disable of an empty
        # cordon cannot be told from it here), and the operator's word wins.
        if found is not None and found[1].state == "cordoned":
            try:
                scalelite.set_state(server_id, "enable")
            except BbbscaleError as error:
                store.history.record(
                    HistoryEntry(
                        now, "guard", f"guard: enable {name} (its cordon expired) failed: {error}", {}
                    )
                )
                continue
            out[found[0]] = replace(found[1], state="enabled")
            reason = f"enable {name}: the burst guard's cordon expired (no live guard renewed it), released"
            store.history.record(
                HistoryEntry(now, "guard", f"guard: {reason}", {"server": name}, actor="tick")
            )
            lines.append(reason)
        held.pop(server_id)
        changed = True
    if changed:
        store.guard_ledger.keep_cordons(held)
    store.guard_ledger.report(lines)
    return out


def guard_status(settings, store: StateStore) -> dict:
    """What `status` shows of the guard: on/off, the servers it holds out of placement and why, and how
    evenly the last burst landed."""
    held = store.guard_ledger.cordons()
    health = store.guard_readings.health()
    return {
        "enabled": settings.guard.enabled,
        "failed_looks": health.failed_looks,
        "last_failure": health.last_failure,
        "cordoned": [
            {
                "server": v.get("name"),
                "since": v.get("at"),
                "until": v.get("until"),
                "reason": v.get("reason"),
            }
            for v in held.values()
            if not v.get("released")  # enabled again, watched a few minutes in case a poll undoes it
        ],
        "last_spread": store.guard_readings.last_spread(),
    }
