"""What `status` shows and what `plan` answers: read-only views for the CLI, the API and chat.

`status`: the fleet per provider and state, the last tick's load and desired counts, the spare capacity
(`spare_units`: what the serving servers, each at its provider's `capacity_units`, carry beyond the
last tick's load; the headroom is the configured margin, never this), reservations to come, freeze,
floors, the burst guard, and while Scalelite's getMeetings is bypassed, until when (`meetings_direct`).
`plan`: the servers and cost N users would need, from the configured mix, weights and headroom.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.ports import StateStore

if TYPE_CHECKING:  # annotations only: the settings model brings pydantic, which `import app` avoids
    from chalicelib.config import Settings


def status(settings: Settings, store: StateStore, now: datetime) -> dict:
    """What the chat `status` shows, as a document (chalicelib/service/commands.py describes it)."""
    from chalicelib.domain.fleet import Fleet, ServerState, capacity_of
    from chalicelib.domain.overrides import DRAIN, read_overrides
    from chalicelib.service.closures import reservation_json
    from chalicelib.service.guard_state import guard_status

    servers = store.servers.servers()
    last = store.history.recent(1, kind="tick")
    detail = last[0].detail if last else {}
    load = detail.get("load")
    capacity = sum(capacity_of(s, settings.providers) for s in servers if s.state == ServerState.SERVING)
    spare = capacity - (load or {}).get("load_units", 0.0)
    overrides = read_overrides(store.settings.get, now)
    freeze = overrides.freeze
    return {
        "at": now.isoformat(),
        "last_tick": last[0].at.isoformat() if last else None,
        "fleet": Fleet(tuple(servers)).counts(),
        "desired": detail.get("desired", {}),
        "load": load,
        "capacity_units": capacity,
        "spare_units": round(spare, 1),
        "reservations": [reservation_json(r) for r in store.reservations.reservations() if r.ends_at > now],
        "freeze": {
            "by": freeze.by,
            "until": freeze.until.isoformat() if freeze.until else None,
            "reason": freeze.reason,
        }
        if freeze
        else None,
        "floors": {
            f.provider: {"servers": f.servers, "by": f.by, "until": f.until.isoformat() if f.until else None}
            for f in overrides.floors
        },
        "guard": guard_status(settings, store),
        "drains": {  # operators' drain requests not yet done (a booting server's waits until it serves)
            name: {"by": asked.get("by"), "at": asked.get("at")}
            for name, asked in (store.settings.get(DRAIN, None) or {}).items()
            if isinstance(asked, dict)
        },
        # while set, the ticks read each server's own getMeetings: Scalelite's timed out (a large fleet)
        "meetings_direct": direct.as_json()
        if (direct := store.meetings_route.direct()) and direct.holds(now)
        else None,
    }


def plan(settings: Settings, users: int, webcam_ratio=None, mic_ratio=None, room_size=None) -> dict:
    """The `plan --json` document: servers per provider and the hourly cost for `users`."""
    from chalicelib.domain.load import units_per_user
    from chalicelib.domain.policy import allocate, plan_report, with_headroom

    mix = settings.mix
    per_user = units_per_user(
        settings.weights,
        mix.webcam_ratio if webcam_ratio is None else webcam_ratio,
        mix.mic_ratio if mic_ratio is None else mic_ratio,
        mix.room_size if room_size is None else room_size,
    )
    units = users * per_user
    allocation = allocate(with_headroom(units, settings.headroom), settings.providers)
    return plan_report(users, units, allocation, settings.providers, settings.currency)
