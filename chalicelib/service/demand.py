"""Capacity asked for besides the measured load: reservations (closure announcements, chat `reserve`) and
the forecast. Reservations start counting early enough for the fleet to be serving before they begin.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from chalicelib.config import Settings
from chalicelib.domain.load import units_per_user
from chalicelib.ports import Reservation

#: Reservations are met this long before they start (the seed's schools start at 08:00: serving by 07:45).
SERVING_MARGIN_MINUTES = 15.0


def lead_minutes(settings: Settings) -> float:
    """How long before a reservation starts bbbscale must begin starting servers: the slowest hourly
    provider's boot time plus the ticks its surge cap needs to start its whole quota, plus the margin."""
    lead = 0.0
    for p in settings.providers.values():
        if p.mode == "static":
            continue
        batches = math.ceil(p.limit / p.max_surge) if p.max_surge else 0
        lead = max(lead, p.boot_minutes + batches * settings.interval_minutes + 2 * settings.interval_minutes)
    return lead + SERVING_MARGIN_MINUTES


def reservation_units(users: int, settings: Settings) -> float:
    """Load units of N users with the configured per-user mix."""
    mix = settings.mix
    return users * units_per_user(settings.weights, mix.webcam_ratio, mix.mic_ratio, mix.room_size)


def reserved(reservations: list[Reservation], settings: Settings, now: datetime) -> tuple[float, str]:
    """(units, reason) of the reservations in force at `now`, counting from start minus the lead time."""
    lead = timedelta(minutes=lead_minutes(settings))
    active = [r for r in reservations if r.starts_at - lead <= now < r.ends_at]
    if not active:
        return 0.0, ""
    users = sum(r.expected_users for r in active)
    names = ", ".join(
        f"{r.id} ({r.expected_users:,} users from {r.starts_at.isoformat()})" for r in active[:3]
    )
    more = f" +{len(active) - 3} more" if len(active) > 3 else ""
    units = reservation_units(users, settings)
    return units, f"reservation {names}{more} = {units:,.0f} units"
