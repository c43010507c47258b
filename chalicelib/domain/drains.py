"""A draining server's next step (pure): stopped once its drain is verified, its cordon sent again when
Scalelite's poller undid it, held when its drain cannot be verified, its recordings are overdue or it is
stuck, else noted as still draining. `chalicelib/domain/provider_plan.py` calls `drain_steps` for each
provider's draining servers, last in its tick.
"""

from __future__ import annotations

from datetime import timedelta

from chalicelib.config import LifecycleSettings, ProviderSettings
from chalicelib.domain.decision import Action, Observation
from chalicelib.domain.fleet import Server
from chalicelib.domain.kinds import HoldKind
from chalicelib.domain.lifecycle import drain_verdict, recordings_overdue, stuck_drain


def drain_steps(
    name: str,
    provider: ProviderSettings,
    draining: list[Server],
    obs: Observation,
    lifecycle: LifecycleSettings,
    notes: list[str],
) -> list[Action]:
    """Each draining server stopped once its drain is verified (empty, recordings published), held when
    its recordings are overdue or its drain is stuck, else noted as still draining."""
    out: list[Action] = []
    for s in draining:
        if obs.scalelite is None:  # on doubt, a hold that says why (it was a note, easy to miss)
            out.append(_unverified(name, s, "Scalelite's server list unread"))
            continue
        registered = obs.scalelite.get(s.url) if s.url else None
        check = obs.checks.get(s.name)
        undone = _undone_cordon(s, registered, check)
        if undone:
            out.append(Action("recordon", name, undone, server=s.name))
            continue
        ok, why = drain_verdict(s, registered, check, provider, lifecycle, obs.now)
        if ok:
            out.append(Action("stop", name, why, server=s.name))
        elif _in_doubt(s, registered, check):
            out.append(_unverified(name, s, why))
        elif recordings_overdue(s, check, lifecycle, obs.now):
            out.append(Action("hold", name, why, server=s.name, hold=HoldKind.RECORDINGS))
        else:
            stuck = stuck_drain(s, lifecycle, obs.now)
            if stuck:
                out.append(Action("hold", name, f"{stuck}: {why}", server=s.name, hold=HoldKind.STUCK_DRAIN))
            else:
                notes.append(why)
    return out


#: A room created on a draining server this long after the tick cordoned it is evidence the cordon was
#: undone: the cordon is sent in the tick's act step, after the tick's `now` its drain is dated from.
UNDO_GRACE = timedelta(seconds=60)


def _undone_cordon(s: Server, registered, check) -> str:
    """Why a draining server's cordon must be sent again (enable then cordon), or "": it took a new room
    well after the tick cordoned it. Scalelite's poller silently undoes a cordon sent while a poll round
    is in flight: getServers still says cordoned, but the round put the server back where creates are
    placed, and sending cordon again changes nothing (docs/herding.md "What the guard meets"). The
    drain then never ends and the server, counted as leaving, takes classes: on the generated week at
    scale 1.6, 32,750 server-seconds placeable while reported cordoned, up to 1 h 55 min on one hired
    server."""
    if registered is None or registered.state not in ("cordoned", "enabled") or check is None:
        return ""
    if check.newest_room_ms is None or check.newest_room_ms <= (s.since + UNDO_GRACE).timestamp() * 1000:
        return ""
    late = (check.newest_room_ms / 1000 - s.since.timestamp()) / 60
    seen = (
        "though Scalelite still reports it cordoned: Scalelite's poll undid the cordon"
        if registered.state == "cordoned"
        else "and Scalelite reports it enabled"
    )
    return (
        f"{s.name} took a new room {late:.0f} min after it was cordoned for its drain, {seen}; "
        "cordoned again (enable then cordon)"
    )


def _in_doubt(s: Server, registered, check) -> bool:
    """Whether a drain cannot be verified this tick: the server's own getMeetings unread (it was in
    Scalelite), or Scalelite reporting it cordoned without a load. Not doubt: a server still busy."""
    cordoned_unloaded = registered is not None and registered.state == "cordoned" and registered.load is None
    unread = (check is None or check.meetings is None) and not (registered is None and s.scalelite_id is None)
    return cordoned_unloaded or unread


def _unverified(name: str, s: Server, why: str) -> Action:
    return Action(
        "hold",
        name,
        f"drain of {s.name} not verified ({why}): kept running",
        server=s.name,
        hold=HoldKind.DOUBT,
    )
