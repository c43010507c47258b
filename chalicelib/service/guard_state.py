"""What the burst guard keeps in the state store for others to read: its cordons (which the tick's
reconciliation tells apart from drains, each with an expiry the guard's looks renew), the change lines
and the spread the next tick reports once, its failed looks, and what `status` shows of it. The tick
enables the cordons no live guard renewed (`release_expired`): a guard that died or timed out leaves
nothing cordoned for longer than `[guard] cordon_ttl_seconds`."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.ports import BbbscaleError, HistoryEntry, StateStore

log = logging.getLogger("bbbscale.guard")

# {scalelite id: {"name", "at" (cordon sent), "reason", "until" (expiry)} | {..., "released" (enabled)}}
GUARD_CORDONS = "guard_cordons"
GUARD_HEALTH = "guard_health"  # {"failed_looks", "last_failure", "at"}: looks skipped on a failure
GUARD_SPREAD = "guard_spread"  # the last burst's spread (status)
SPREAD_UNREPORTED = "guard_spread_unreported"  # ... until the next tick reports it (metrics)
GUARD_UNREPORTED = "guard_unreported"  # change lines the next tick reports (digest, chat), then clears


def guard_cordons(get) -> dict:
    """The cordons the guard made and has not undone, by Scalelite id (`get`: the settings store's)."""
    value = get(GUARD_CORDONS, None)
    return value if isinstance(value, dict) else {}


def _when(text) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None


def live(entry: dict, now: datetime) -> bool:
    """A guard cordon still held by a live guard: not released, its expiry not passed."""
    until = _when(entry.get("until"))
    return not entry.get("released") and until is not None and until > now


def renew(held: dict, now: datetime, ttl_seconds: float) -> bool:
    """Push the expiry of each cordon the guard holds to `now + ttl` once half of it has passed (a
    store write every minute, not every look); True when anything changed."""
    changed = False
    for entry in held.values():
        until = _when(entry.get("until"))
        if not entry.get("released") and (until is None or until < now + timedelta(seconds=ttl_seconds / 2)):
            entry["until"] = (now + timedelta(seconds=ttl_seconds)).isoformat()
            changed = True
    return changed


def owner_of(entry: dict, state: str, empty: bool, by_poller: bool = False) -> bool | None:
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
        previous = _when((store.settings.get(GUARD_HEALTH, None) or {}).get("at"))
        store.settings.put(GUARD_HEALTH, {"failed_looks": count, "last_failure": text, "at": now.isoformat()})
        if previous is None or now - previous >= timedelta(minutes=1):
            lines = store.settings.get(GUARD_UNREPORTED, None) or []
            store.settings.put(
                GUARD_UNREPORTED, [*lines, f"a look failed and was skipped ({count} so far): {text}"][-50:]
            )
    except BbbscaleError as failure:  # the store too: the count stays in memory, the guard goes on
        log.warning("guard: could not record a failed look: %s", failure)


def release_expired(scalelite, store: StateStore, registered: dict | None, now: datetime) -> dict | None:
    """The capacity check's part: enable every guard cordon whose expiry passed (no live guard renewed
    it), drop it from the record, say so in the history and the next report. Returns Scalelite's list
    (by URL) with those servers now enabled. Without Scalelite's list it changes nothing."""
    held = guard_cordons(store.settings.get)
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
        store.settings.put(GUARD_CORDONS, held)
    if lines:
        store.settings.put(
            GUARD_UNREPORTED, [*(store.settings.get(GUARD_UNREPORTED, None) or []), *lines][-50:]
        )
    return out


def take_unreported(store: StateStore) -> list[str]:
    """The guard's changes since the last tick took them (for the tick's report and its digest)."""
    lines = store.settings.get(GUARD_UNREPORTED, None) or []
    if lines:
        store.settings.put(GUARD_UNREPORTED, [])
    return list(lines)


def take_spread(store: StateStore) -> dict | None:
    """The spread the guard measured after a burst, once (for the tick's report and its metrics)."""
    found = store.settings.get(SPREAD_UNREPORTED, None)
    if found:
        store.settings.put(SPREAD_UNREPORTED, None)
    return found or None


def guard_status(settings, store: StateStore) -> dict:
    """What `status` shows of the guard: on/off, the servers it holds out of placement and why, and how
    evenly the last burst landed."""
    held = guard_cordons(store.settings.get)
    health = store.settings.get(GUARD_HEALTH, None) or {}
    return {
        "enabled": settings.guard.enabled,
        "failed_looks": health.get("failed_looks", 0),
        "last_failure": health.get("last_failure"),
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
        "last_spread": store.settings.get(GUARD_SPREAD, None),
    }
