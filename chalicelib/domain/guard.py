"""The burst guard's decisions (pure): which servers to cordon so Scalelite cannot herd a burst onto them,
which to enable again, and which cordons Scalelite's poller silently undid.

Why it exists. Between two polls Scalelite adds only +1 per create and per join to a server's load, and
places each new room on the lowest load (docs/scalelite-and-bbb.md "Scalelite"): a burst of creates at a class start
lands on the few servers that were lowest at the last poll, long before their pupils have joined. The
guard looks every few seconds, projects each server's load once its young rooms have filled (each room
at its expected size: what that room weighed before, else the slot's typical room, else the weights'
default room), and takes the servers heading past `threshold` of their capacity out of placement
(cordon: they keep every meeting, joins still work). It enables them again once they have room.

What Scalelite really does (v1.6.1, docs/herding.md "What the guard meets"): it places only on servers
in its placement set, i.e. enabled AND with a numeric load; a server just enabled from disabled (or just
added) reports load "unavailable" and takes no room before the next poll. So the guard counts as
placeable only those, and never leaves fewer placeable servers with room than the burst needs. A cordon
sent while a poll round is in flight is silently undone (still reported cordoned, yet placed on): the
service finds the evidence (rooms created on it after the cordon) and the guard repairs it with enable
then cordon (`recordon`), the only sequence that works.

It only ever cordons or enables, through Scalelite's admin API; it never ends a meeting. It touches only
servers bbbscale means to serve (never one being drained) and enables only servers whose state it set
itself (never an operator's cordon or disable). A cordon is held `hold_seconds` before the guard enables
the server again by choice (no cordon/enable/cordon flapping within seconds); only the safety rule (room
for the burst) overrides it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from chalicelib.domain.guard_model import GuardAction, GuardServer, balance_limit, pct


def _enable(s: GuardServer, why: str) -> GuardAction:
    return GuardAction("enable", s.id, s.name, f"{s.name} {why}")


def decide_guard(
    servers: Iterable[GuardServer],
    *,
    threshold: float,
    reopen_below: float,
    incoming_units: float = 0.0,
    min_enabled: int = 2,
    margin: float = 1.0,
    floor: float = 0.0,
    hold_seconds: float = 0.0,
    quiet: bool = False,
    keep_share: float = 0.0,
) -> list[GuardAction]:
    """The cordons, enables and repairs for one look. Everything but the servers is named at the call
    (keyword-only): eight figures of one kind read wrongly when passed by position.

    The limit is `balance_limit` (with the default margin: `threshold` itself). Then:
    - enable every server the guard holds whose projection, plus what it would draw at once (`draw`:
      enabled again, its load frozen while cordoned is Scalelite's lowest, and the burst goes to it until
      it is not), fell below the reopening share (`reopen_below`, or, when a burst is on and that is
      lower, 0.1 under the limit the fleet's share so far would give, whatever the burst still brings),
      once its cordon is `hold_seconds` old; a server the poller disabled once empty at once (releasing
      everything below `threshold` as soon as a window ends was tried: the stragglers of the class
      overloaded them);
    - repair (enable then cordon) every guard cordon a poll undid (`leaked_rooms`), or may have (`undone`:
      a round ran across it and left its load frozen);
    - unless `quiet`, cordon placeable servers whose projection plus what they took since the last look
      (`intake`: as much again may come before the next) reaches the limit, fullest first; below
      `threshold` (a cordon for balance) only those taking rooms (`intake`);
    - a cordon for balance (the server heads past the limit but not past `threshold`) leaves at least
      `keep_share` of the serving servers placeable: the limit follows the fleet's share as the burst
      comes, and when the burst's size is unknown (no forecast) every server just above the mean would
      be cordoned, the burst funnelled onto `min_enabled` servers at a time and swapped between them;
    - the safety rule, over everything above: the placeable servers left must number at least
      `min_enabled` with room (below capacity), as far as the fleet has them, and keep spare room below
      the limit for what the burst brings before the guard can act again: twice what the fleet took
      since the last look (this look's pace, as much again before the next), at most `incoming_units`
      (what the burst still brings). Asking room for the whole rest of the burst at once brought back
      servers cordoned a second before ("nothing else will do") in every burst a forecast was on: on the
      real Scalelite a rooms CV of 0.34 in 20 bursts (0.20-0.25 with this rule, 0.19 without one); a
      held server is placeable again one look after it is needed. When they cannot: held servers
      cordoned at least half of `hold_seconds` ago with a load (placeable as soon as enabled) are
      enabled again, least loaded first (for room only with more below the limit than they would
      draw at once); then the least full servers heading past the limit stay, for room one by one
      below capacity until it covers the need; a younger cordon is undone only for the count, never
      for room alone (with a forecast, 22 and 9 flaps by choice in 20 bursts on the real Scalelite,
      0, 0 and 1 since); with no room anywhere, servers past capacity stay to make the count.
    """
    pool = [s for s in servers if s.online and s.meant_to_serve and s.capacity > 0]
    limit = balance_limit(pool, threshold, incoming_units, margin, floor)
    need = min(incoming_units, 2 * sum(s.intake for s in pool))  # room the next look's rooms need
    # In a burst a held server reopens once it has fallen behind the fleet as it stands now (its share so
    # far), not behind where the forecast says the burst will end: with or without a forecast, the rule
    # that was measured on the real Scalelite without one (alone it moved nothing measurable with one).
    reopen = (
        reopen_below if quiet else min(reopen_below, balance_limit(pool, threshold, 0.0, margin, floor) - 0.1)
    )
    held = sorted((s for s in pool if s.guard_cordoned and s.state != "enabled"), key=lambda s: s.ratio)
    opened = _reopened(held, reopen, hold_seconds)
    actions = [_has_room_again(s, reopen) for s in opened]
    held = [s for s in held if s not in opened]

    placeable = [s for s in pool if s.placeable] + [s for s in opened if s.state == "cordoned" and s.has_load]
    over, staying = _past_the_limit(
        pool,
        placeable,
        opened,
        limit=limit,
        threshold=threshold,
        hold_seconds=hold_seconds,
        keep_share=keep_share,
        quiet=quiet,
    )
    back, kept = _room_for_the_burst(
        pool, held, over, staying, limit=limit, need=need, min_enabled=min_enabled, hold_seconds=hold_seconds
    )
    actions += back
    cordoned = [s for s in over if s not in kept]
    brought_back = {a.server_id for a in back}
    actions += [
        _repair(s)
        for s in held
        if s.id not in brought_back and (s.leaked_rooms or s.undone) and s.state == "cordoned"
    ]
    actions += [_cordon(s, limit) for s in sorted(cordoned, key=lambda s: -_heading(s))]
    return actions


def _heading(s: GuardServer) -> float:
    """Where a server heads by the next look: its projection plus as much again as it took since the last."""
    return (s.projected + s.intake) / s.capacity


def _with_room(group: Iterable[GuardServer]) -> int:
    return sum(1 for s in group if s.ratio < 1.0)


def _past_the_limit(
    pool: list[GuardServer],
    placeable: list[GuardServer],
    opened: list[GuardServer],
    *,
    limit: float,
    threshold: float,
    hold_seconds: float,
    keep_share: float,
    quiet: bool,
) -> tuple[list[GuardServer], list[GuardServer]]:
    """(the placeable servers to cordon, those staying placeable), before the safety rule."""

    def cycling(s: GuardServer) -> bool:
        # Enabled again by the guard after a cordon less than `hold_seconds` ago: cordoned again by
        # choice only past `threshold` (a cordon, enable, cordon within the hold is a flap). Scalelite
        # sees its frozen load as lowest and sends the burst to it, so the hold is short and gives way at
        # `threshold` (with no hold at all: 180 flaps in 20 bursts on the real Scalelite).
        return s.state == "enabled" and s.cordon_age <= hold_seconds and s.projected / s.capacity < threshold

    def for_balance(s: GuardServer) -> bool:  # a cordon that only spreads the burst (below `threshold`)
        return _heading(s) < threshold

    def takes_rooms(s: GuardServer) -> bool:
        # A cordon for balance only of a server taking rooms now: one that took none since the last look
        # is not where Scalelite sends the burst, and its projection may still count the last lesson's
        # rooms, ending at the bell (read before they ended: on the real Scalelite 29 of 34 such cordons
        # in 20 bursts came in the second before a class start, and the servers they held, emptied, took
        # none of the burst). Were it to become the sink, the next look sees it.
        return s.intake > 0 or not for_balance(s)

    over = [
        s
        for s in placeable
        if not quiet and s not in opened and _heading(s) >= limit and takes_rooms(s) and not cycling(s)
    ]
    staying = [s for s in placeable if s not in over]
    # Balance cordons (below `threshold`), least heading first, stay placeable while fewer than
    # `keep_share` of the serving servers would be; decided before the safety rule, which counts them:
    # a server left placeable takes rooms at its live load, a held one enabled again draws the next
    # look's rooms at its frozen one (seen: +6 rooms within a look, on the real Scalelite).
    keep = math.ceil(keep_share * sum(1 for s in pool if s.state != "disabled")) - len(staying)
    if keep > 0:
        spared = sorted(filter(for_balance, over), key=_heading)[:keep]
        over = [s for s in over if s not in spared]
        staying += spared
    return over, staying


def _room_for_the_burst(
    pool: list[GuardServer],
    held: list[GuardServer],
    over: list[GuardServer],
    staying: list[GuardServer],
    *,
    limit: float,
    need: float,
    min_enabled: int,
    hold_seconds: float,
) -> tuple[list[GuardAction], list[GuardServer]]:
    """The safety rule: (held servers enabled again, the servers heading past the limit that stay
    placeable), so that Scalelite keeps `min_enabled` placeable servers with room and `need` units of
    room below the limit as far as the servers the guard may use have it."""
    staying = list(staying)
    actions: list[GuardAction] = []

    def below_limit(s: GuardServer) -> float:
        return max(0.0, limit * s.capacity - s.projected)

    # Room for the burst also counts servers enabled but not yet in Scalelite's placement set: they take
    # rooms from its next poll, within the burst; the placeable count (right now) does not count them.
    room = sum(map(below_limit, staying)) + sum(
        below_limit(s) for s in pool if s.online and s.state == "enabled" and not s.has_load
    )
    # Short of room or of placeable servers, in this order: held servers cordoned at least half of
    # `hold_seconds` ago (enabled, each stays placeable until its cordon is `hold_seconds` old), for room
    # only those with more room below the limit than they would draw at once; then the least full
    # servers heading past the limit stay placeable; a younger cordon is undone only when Scalelite would
    # otherwise have fewer than `min_enabled` placeable servers with room, never for room alone (it waits
    # a look or two). Enabled, a held server's frozen load is Scalelite's lowest and takes the next look's
    # rooms (a server left placeable takes them at its live load): on the real Scalelite with a forecast,
    # of 22 and 9 flaps by choice in two runs of 20 bursts, 15 and 5 undid a fresh cordon for room, 5 and
    # 1 enabled a server past the limit, 2 and 2 one that drew past it at once; since, 0, 0, 1.
    back = sorted(
        (s for s in held if s.state == "cordoned" and s.has_load and s.ratio < 1.0), key=lambda s: s.ratio
    )
    settled = [s for s in back if s.since_change >= hold_seconds / 2]  # then open the other half (`cycling`)
    over = sorted(over, key=lambda s: (s.ratio >= 1.0, _heading(s)))  # the least full with room first

    def bring_back(s: GuardServer, why: str) -> None:
        nonlocal room
        room += below_limit(s)
        actions.append(
            _enable(
                s,
                f"enabled again: the burst needs {min_enabled} placeable servers with room and "
                f"~{need:.0f} units of room before the next look, and it has some (projected {pct(s.ratio)})"
                + why,
            )
        )
        staying.append(s)

    for s in settled:
        if _with_room(staying) < min_enabled or (room < need and below_limit(s) > s.draw):
            bring_back(s, "")
    kept = [s for s in over if s.ratio < 1.0][: max(0, min_enabled - _with_room(staying))]  # a prefix
    room += sum(s.capacity - s.projected for s in kept)
    # Short of the room the next look's rooms need: the least full servers heading past the limit stay
    # placeable, up to their capacity, one by one until the room covers it; the others are cordoned still
    # (keeping every server below capacity placeable switched the balance off for a burst's first seconds).
    for s in over[len(kept) :]:
        if room >= need or s.ratio >= 1.0:
            break
        kept.append(s)
        room += s.capacity - s.projected
    for s in (s for s in back if s not in settled):
        if _with_room(staying) + _with_room(kept) < min_enabled:
            bring_back(s, f"; cordoned {s.since_change:.0f} s ago, but nothing else will do")
    # Nothing with room enough: servers past capacity stay placeable to make up `min_enabled` (with none
    # placeable Scalelite rejects the room; on one past capacity the class at least starts).
    return actions, over[: max(len(kept), min_enabled - _with_room(staying))]


def _reopened(held: list[GuardServer], reopen: float, hold_seconds: float) -> list[GuardServer]:
    """The held servers to enable again by choice: projected, with what each would draw at once, below
    the reopening share, once held `hold_seconds` (at once when the poller disabled it once empty)."""
    return [
        s
        for s in held
        if (s.projected + s.draw) / s.capacity < reopen
        and (s.state == "disabled" or s.since_change >= hold_seconds)
    ]


def _has_room_again(s: GuardServer, reopen: float) -> GuardAction:
    return _enable(
        s,
        f"has room again: projected {s.projected:.0f}/{s.capacity:.0f} units ({pct(s.ratio)})"
        + (
            f" +{s.draw:.0f} it would draw at once (Scalelite sees its frozen load as lowest)"
            if s.draw
            else ""
        )
        + f" below {pct(reopen)}"
        + ("" if s.state == "cordoned" else " (the poller disabled it once empty)"),
    )


def _repair(s: GuardServer) -> GuardAction:
    """Enable then cordon a guard cordon a poll undid (rooms landed after it) or may have undone."""
    seen = (
        f"took {s.leaked_rooms} new room{'s' if s.leaked_rooms > 1 else ''} after the guard cordoned "
        "it, though Scalelite still reports it cordoned: Scalelite's poll undid the cordon"
        if s.leaked_rooms
        else s.undone
    )
    return GuardAction(
        "recordon",
        s.id,
        s.name,
        f"{s.name} {seen}; cordoned again (enable then cordon), projected {pct(s.ratio)}",
    )


def _cordon(s: GuardServer, limit: float) -> GuardAction:
    taking = f", +{s.intake:.0f} taken since the last look" if s.intake else ""
    return GuardAction(
        "cordon",
        s.id,
        s.name,
        f"{s.name} projected at {s.projected:.0f}/{s.capacity:.0f} units ({pct(s.ratio)}{taking}) "
        f"once its young rooms fill, past {pct(limit)}: no new rooms until it has room",
    )
