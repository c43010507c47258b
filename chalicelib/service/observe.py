"""The observe step of a tick: read Scalelite, the providers, the servers themselves and the store.

Everything that can fail here degrades to "unknown" with a reason, never to "empty": a FAILED answer is
not "no load", an unreadable provider is not "no VMs". The planner holds scale-down on any doubt.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.domain.decision import Demand, Observation, ServerCheck
from chalicelib.domain.fleet import FINAL, VM, Fleet, Server, ServerState
from chalicelib.domain.kept import DirectReads
from chalicelib.domain.kinds import LOAD_FROM_SERVERS
from chalicelib.domain.load import LoadSnapshot
from chalicelib.domain.overrides import DRAIN, read_overrides
from chalicelib.domain.reconcile import reconcile
from chalicelib.errors import one_line
from chalicelib.ports import ApiError, BbbscaleError, ScaleliteServer, UnreachableError
from chalicelib.service.demand import reserved
from chalicelib.service.guard_state import live, release_expired
from chalicelib.service.records import save_quietly, transition
from chalicelib.service.service_ports import ObservePorts

CHECK_STATES = (ServerState.BOOTING, ServerState.HEALTHY, ServerState.DRAINING)


def _scalelite_servers(
    ports: ObservePorts, problems: list[str]
) -> tuple[dict[str, ScaleliteServer] | None, bool]:
    """Scalelite's servers by URL (None on a failure, with the reason in `problems`), and whether
    Scalelite gave no answer in time (hung: the tick asks it nothing more)."""
    try:
        return {s.url.rstrip("/"): s for s in ports.scalelite.servers()}, False
    except BbbscaleError as error:
        problems.append(f"Scalelite getServers failed: {error}")
        return None, isinstance(error, UnreachableError) and error.timed_out


def _dns_records(ports: ObservePorts, problems: list[str]):
    """This cluster's records in the zone, or None (no [dns], or unreadable: records are then left alone)."""
    dns = ports.dns
    if dns is None:
        return None
    try:
        return tuple(dns.records())
    except BbbscaleError as error:
        problems.append(f"DNS records of {dns.zone} unreadable: {error}")
        return None


def load_snapshot(
    ports: ObservePorts,
    registered: dict[str, ScaleliteServer] | None,
    problems: list[str],
    now: datetime | None = None,
    persist: bool = False,
) -> LoadSnapshot | None:
    """Scalelite's getMeetings; when it fails while getServers answered (`registered`), each server's own,
    read from that list: on internalError (one bad server fails the whole call), and on no answer in time
    or an answer that cannot be used (Scalelite asks every server one after another: a large fleet's
    getMeetings can outlast the read timeout while each server answers at once). Never "no load" on a
    failure: None, with the reason in `problems`.

    With `now` and `persist`, a getMeetings that timed out (or failed after the read timeout) is
    remembered: for `scalelite.meetings_direct_minutes` the ticks read the servers directly without
    asking Scalelite first, so a fleet whose getMeetings always outlasts the timeout costs one slow tick
    per window, not every tick its connect + 3 x read timeout (63 s at the defaults: past the minute)."""
    kept = ports.store.meetings_route.direct() if now is not None else None  # one read a tick
    if now is not None and registered is not None and kept is not None and kept.holds(now):
        problems.append(
            f"{LOAD_FROM_SERVERS} until {kept.until:%H:%M} UTC: "
            f"Scalelite's getMeetings timed out at {kept.at:%H:%M} UTC ({kept.why})"
        )
        return ports.bbb.poll(list(registered.values()))
    remember = persist and now is not None
    asked = time.monotonic()
    try:
        snapshot = ports.scalelite.meetings()
    except ApiError as error:
        problems.append(f"Scalelite getMeetings answered {error.key}")
        if error.key != "internalError" or registered is None:
            return None
    except BbbscaleError as error:
        problems.append(f"Scalelite getMeetings failed: {error}")
        if registered is None:
            return None
        problems.append(f"{LOAD_FROM_SERVERS} instead")
        slow = time.monotonic() - asked >= ports.settings.scalelite.read_timeout  # e.g. a proxy's 504
        timed_out = isinstance(error, UnreachableError) and error.timed_out
        minutes = ports.settings.scalelite.meetings_direct_minutes
        if remember and now is not None and (slow or timed_out) and minutes > 0:
            since = kept.since if kept is not None else now  # a window renewed keeps its first timeout
            until = now + timedelta(minutes=minutes)
            ports.store.meetings_route.keep_direct(DirectReads(since, now, until, one_line(str(error), 200)))
    else:
        if remember and kept is not None:
            ports.store.meetings_route.keep_direct(None)  # Scalelite answers again: back to it
        return snapshot
    return ports.bbb.poll(
        list(registered.values())
    )  # it polls the online enabled/cordoned ones, as Scalelite


def _as_serving(ports: ObservePorts, registered, records, now: datetime) -> dict[str, ScaleliteServer] | None:
    """Scalelite's list as reconciliation must read it: a server the burst guard cordoned (or that the
    poller disabled after the guard's cordon) is still serving, not draining (never stopped for it),
    while a live guard holds it (its cordon unexpired: the guard enables it when the load needs it;
    expired ones the tick has just enabled, `release_expired`); so is a server enabled minutes ago that
    Scalelite shows disabled (not placeable before its first poll, yet capacity)."""
    if not registered:
        return registered
    held = {k for k, v in ports.store.guard_ledger.cordons().items() if live(v, now)}
    fresh = {
        r.url.rstrip("/")
        for r in records
        if r.url and r.state == ServerState.SERVING and now - r.since < timedelta(minutes=3)
    }
    if not held and not fresh:
        return registered
    return {
        url: replace(s, state="enabled")
        if (s.id in held and s.state in ("cordoned", "disabled")) or (url in fresh and s.state == "disabled")
        else s
        for url, s in registered.items()
    }


def _check(ports: ObservePorts, server: Server) -> ServerCheck:
    """Ask one server directly: health while booting, meetings and recordings while draining."""
    bbb = ports.bbb_of(server)
    try:
        if server.state == ServerState.DRAINING:
            rooms = bbb.meetings().meetings
            created = [m.create_time_ms for m in rooms if not m.is_breakout and m.create_time_ms]
            return ServerCheck(
                healthy=True,
                meetings=len(rooms),
                recordings_pending=bbb.recordings_pending(),
                newest_room_ms=max(created, default=None),
            )
        return ServerCheck(healthy=bbb.healthy())
    except BbbscaleError as error:
        return ServerCheck(healthy=False, problem=str(error))


def placeable(registered: dict[str, ScaleliteServer] | None) -> frozenset[str] | None:
    """The URLs Scalelite can place a room on now: online, enabled and with a numeric load (a server
    just enabled from disabled reports "unavailable" and takes nothing before the next poll)."""
    if registered is None:
        return None
    return frozenset(
        url for url, s in registered.items() if s.online and s.state == "enabled" and s.load is not None
    )


def observe(ports: ObservePorts, now: datetime, persist: bool = True) -> tuple[Observation, list[Server]]:
    """Gather one tick's observation. Returns it with the records reconciliation changed (already saved
    unless `persist` is False, as in a dry run). An acting tick first enables the burst guard's cordons
    that no live guard renewed (a guard that died or timed out leaves nothing cordoned for long)."""
    problems: list[str] = []
    records = ports.store.servers.servers()
    listed: dict[str, list[VM] | None] = {}
    unreachable: set[str] = set()
    for name, provider in ports.providers.items():
        try:
            listed[name] = provider.list()
        except BbbscaleError as error:
            listed[name] = None
            unreachable.add(name)
            problems.append(f"provider {name}: list failed: {error}")
    registered, hung = _scalelite_servers(ports, problems)
    if persist:  # even with the guard switched off since: its last cordons are released
        registered = release_expired(ports.scalelite, ports.store, registered, now)
    dns_records = _dns_records(ports, problems)
    changed = reconcile(records, listed, _as_serving(ports, registered, records, now), ports.settings, now)
    by_name = {r.name: r for r in records}
    for server in changed:
        by_name[server.name] = transition(ports.store, server, persist) if persist else server
    if hung:  # getMeetings would wait as long again (a tick of 63 s would take 126 s at the defaults)
        problems.append("Scalelite getMeetings not asked: Scalelite gave no answer in time to getServers")
        snapshot = None
    else:
        snapshot = load_snapshot(ports, registered, problems, now, persist)
    if registered is not None:
        for name, r in list(by_name.items()):
            seen = registered.get(r.url) if r.url else None
            if r.state != ServerState.SERVING or seen is None:
                continue
            offline = 0 if seen.online else r.offline_ticks + 1
            load = seen.load if seen.load is not None else r.load_units
            if offline != r.offline_ticks:  # persisted: it decides a replacement after N ticks
                updated = replace(r, offline_ticks=offline, load_units=load, meetings=int(load))
                by_name[name] = save_quietly(ports.store, updated) if persist else updated

    # A serving server Scalelite has held offline long enough to be replaced is asked too: if it answers,
    # Scalelite's poller is not reaching it (a round cut at POLLER_WAIT_TIMEOUT), and a replacement would
    # only queue behind it (issue 19; the planner holds instead).
    overdue = ports.settings.lifecycle.offline_ticks_before_replace
    to_check = [
        r
        for r in by_name.values()
        if r.url
        and (r.state in CHECK_STATES or (r.state == ServerState.SERVING and r.offline_ticks >= overdue))
    ]
    if len(to_check) <= 1 or not ports.parallel_checks:
        checks = {r.name: _check(ports, r) for r in to_check}
    else:
        with ThreadPoolExecutor(max_workers=min(16, len(to_check))) as pool:
            checks = dict(zip([r.name for r in to_check], pool.map(lambda r: _check(ports, r), to_check)))
    if persist:
        _forget_done_drains(ports.store, by_name)
    units, why = reserved(ports.store.reservations.reservations(), ports.settings, now)
    f_units, f_why = ports.forecast(now)
    recent = ports.store.tick_memory.recent()
    backoff = {p: v.until for p, v in ports.store.provider_failures.failures().items() if v.until}
    obs = Observation(
        now=now,
        fleet=Fleet(tuple(by_name.values())),
        snapshot=snapshot,
        scalelite=registered,
        checks=checks,
        overrides=read_overrides(ports.store.settings.get, now),
        demand=Demand(
            forecast_units=f_units, forecast_reason=f_why, reserved_units=units, reserved_reason=why
        ),
        recent_desired=recent,
        backoff=backoff,
        unreachable_providers=frozenset(unreachable),
        problems=tuple(problems) + (snapshot.problems if snapshot else ()),
        vms=listed,
        dns_records=dns_records,
        placeable=placeable(registered),
    )
    return obs, changed


def _forget_done_drains(store, by_name: dict[str, Server]) -> None:
    """An operator's drain request ends with its server's drain: once the server is stopped or destroyed
    it is dropped, or a server powered on again later (a `power` provider keeps its names) would be
    cordoned at once, and `status` would list drains done long ago."""
    asked = store.settings.get(DRAIN, None) or {}
    done = [name for name in asked if name in by_name and by_name[name].state in FINAL]
    if done:
        store.settings.put(DRAIN, {name: v for name, v in asked.items() if name not in done})
