"""What the burst guard keeps in the state store for others to read: its cordons (which the tick's
reconciliation tells apart from drains), the change lines and the spread the next tick reports once,
and what `status` shows of it."""

from __future__ import annotations

from chalicelib.ports import StateStore

GUARD_CORDONS = "guard_cordons"  # {scalelite id: {"name", "at", "reason"}}
GUARD_SPREAD = "guard_spread"  # the last burst's spread (status)
SPREAD_UNREPORTED = "guard_spread_unreported"  # ... until the next tick reports it (metrics)
GUARD_UNREPORTED = "guard_unreported"  # change lines the next tick reports (digest, chat), then clears


def guard_cordons(get) -> dict:
    """The cordons the guard made and has not undone, by Scalelite id (`get`: the settings store's)."""
    value = get(GUARD_CORDONS, None)
    return value if isinstance(value, dict) else {}


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
    return {
        "enabled": settings.guard.enabled,
        "cordoned": [
            {"server": v.get("name"), "since": v.get("at"), "reason": v.get("reason")}
            for v in held.values()
            if not v.get("released")  # enabled again, watched a few minutes in case a poll undoes it
        ],
        "last_spread": store.settings.get(GUARD_SPREAD, None),
    }
