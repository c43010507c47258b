"""Chat operations: a verified caller's command, executed against the runtime, answered in text.

`help` and `status` are open to every verified caller; everything else only to the operators the
configuration names (`chat.operators`, plain platform user ids or "platform:id"). Every command,
refused ones included, is recorded in the history with who asked. Work that may take longer than
Slack's 3 seconds (a capacity check after a change) is not done here: the reply carries a `Followup`
that the caller's platform glue hands to the Dispatcher.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from chalicelib.domain.chat import Caller, Followup, Reply, local_time
from chalicelib.domain.fleet import FINAL, ServerState
from chalicelib.domain.overrides import DRAIN, FLOORS, FREEZE, read_overrides
from chalicelib.ports import BbbscaleError, HistoryEntry, Reservation, StateStore
from chalicelib.service import grammar
from chalicelib.service.grammar import parse_command
from chalicelib.service.status import plan, status

if TYPE_CHECKING:  # annotations only: the settings model brings pydantic, which `import app` avoids
    from chalicelib.config import Settings

log = logging.getLogger(__name__)

HELP = """bbbscale commands:
  status                          fleet, load and overrides now
  plan N                          servers and cost for N users
  reserve START END USERS         promise capacity, e.g. reserve tomorrow 08:00 17:00 3000
  unreserve ID                    cancel a reservation (its id as `status` shows it)
  floor PROVIDER N [for 2h]       keep at least N servers on PROVIDER (N=0 removes the floor)
  freeze [DURATION] [reason]      no scaling actions (e.g. freeze 30m); unfreeze to resume
  unfreeze                        resume scaling now
  drain SERVER                    cordon a server: it keeps its classes, gets no new ones, then stops
  history [N] [KIND]              the last N (15) entries; KIND: ticks, commands, servers, guard,
                                  actions, notices, certificates
  help                            this text
Durations: 30m, 2h, 1d. Only operators may change things."""

OPEN_TO_ALL = (grammar.Help, grammar.Status)


class Runtime(Protocol):
    """What commands need: the validated settings and the state store."""

    settings: Settings
    store: StateStore


def execute(text: str, runtime: Runtime, caller: Caller, now: datetime) -> Reply:
    """Parse and run one command line for `caller`, record it in the history, and return the reply."""
    command = parse_command(text, now, runtime.settings.timezone)
    if not isinstance(command, OPEN_TO_ALL) and not caller.is_operator(list(runtime.settings.chat.operators)):
        reply = Reply(
            f"Sorry {caller.user_name or caller.user_id}, only bbbscale operators may do that. "
            "Try `status` or `help`."
        )
        outcome = "refused: not an operator"
    else:
        try:
            reply = _run(command, runtime, caller, now)
        except BbbscaleError as error:  # e.g. Scalelite unreachable for `status`: say so, in chat
            reply = Reply(f"Could not do that: {error}")
        except Exception:  # a chat user gets an answer, never an error page; the trace goes to the log
            log.exception("chat command %r failed", type(command).__name__)
            reply = Reply("Could not do that (internal error; the operators' logs have the details).")
        outcome = reply.text.splitlines()[0][:200] if reply.text else ""
    runtime.store.history.record(
        HistoryEntry(
            at=now,
            kind="command",
            summary=f"{caller.user_name or caller.actor}: {' '.join(text.split())[:200]} -> {outcome}",
            detail={
                "command": type(command).__name__.lower(),
                "text": text[:500],
                "user_name": caller.user_name,
            },
            actor=caller.actor,
        )
    )
    return reply


def _run(command: grammar.Command, runtime: Runtime, caller: Caller, now: datetime) -> Reply:
    match command:
        case grammar.Help(problem=problem):
            return Reply((f"I did not understand: {problem}.\n\n" if problem else "") + HELP)
        case grammar.Status():
            return Reply(
                describe_status(status(runtime.settings, runtime.store, now), runtime.settings.timezone)
            )
        case grammar.Plan(users=users):
            return Reply(describe_plan(plan(runtime.settings, users)))
        case grammar.History(limit=limit, kind=kind):
            return Reply(
                describe_history(
                    runtime.store.history.recent(limit=limit, kind=kind), runtime.settings.timezone
                )
            )
        case grammar.Reserve():
            return _reserve(command, runtime, caller, now)
        case grammar.SetFloor():
            return _floor(command, runtime, caller, now)
        case grammar.Freeze(duration=duration, reason=reason):
            until = now + duration if duration else None
            runtime.store.settings.put(
                FREEZE,
                {
                    "until": until.isoformat() if until else None,
                    "by": caller.actor,
                    "reason": reason or "chat freeze",
                },
            )
            return Reply(
                f"Frozen {'until ' + local_time(until, runtime.settings.timezone) if until else 'until `unfreeze`'}"
                f" by {caller.user_name or caller.actor}: no scaling actions meanwhile.",
                public=True,
            )
        case grammar.Unfreeze():
            was = read_overrides(runtime.store.settings.get, now).freeze
            runtime.store.settings.put(FREEZE, None)
            if was is None:
                return Reply("Not frozen; nothing to do.")
            return Reply(
                f"Unfrozen by {caller.user_name or caller.actor}; running a capacity check.",
                public=True,
                followup=Followup("unfreeze"),
            )
        case grammar.Drain(server=server):
            return _drain(server, runtime, caller, now)
        case grammar.Unreserve(reservation_id=reservation_id):
            return _unreserve(reservation_id, runtime, caller, now)
    return Reply(HELP)  # unreachable: every command is matched above


def _reserve(command: grammar.Reserve, runtime: Runtime, caller: Caller, now: datetime) -> Reply:
    key = f"{caller.actor}|{command.starts_at.isoformat()}|{command.ends_at.isoformat()}|{command.users}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    reservation = Reservation(
        id=f"chat-{digest[:12]}",
        starts_at=command.starts_at,
        ends_at=command.ends_at,
        expected_users=command.users,
        source=f"chat:{caller.actor}",
        body_hash=digest,
        created_at=now,
    )
    stored, created = runtime.store.reservations.add(reservation)
    zone = runtime.settings.timezone
    span = f"{local_time(stored.starts_at, zone)} to {local_time(stored.ends_at, zone)}"
    if not created:
        return Reply(f"Already reserved ({stored.id}): {stored.expected_users} users from {span}.")
    return Reply(
        f"Reserved {stored.id}: capacity for {stored.expected_users} users from {span}. "
        "Running a capacity check.",
        public=True,
        followup=Followup("reserve", stored.id),
    )


def _floor(command: grammar.SetFloor, runtime: Runtime, caller: Caller, now: datetime) -> Reply:
    providers = runtime.settings.providers
    if command.provider not in providers:
        return Reply(f"No provider {command.provider!r}; choose one of: {', '.join(sorted(providers))}.")
    limit = providers[command.provider].limit
    if command.servers > limit:
        return Reply(f"{command.provider} may run at most {limit} servers (max_servers/quota).")
    floors = dict(runtime.store.settings.get(FLOORS, None) or {})
    if command.servers == 0:
        floors.pop(command.provider, None)
        runtime.store.settings.put(FLOORS, floors)
        return Reply(  # the desired count it held up is recomputed now, not at the next timer's check
            f"Floor on {command.provider} removed by {caller.user_name or caller.actor}. "
            "Running a capacity check.",
            public=True,
            followup=Followup("floor"),
        )
    until = now + command.duration if command.duration else None
    floors[command.provider] = {
        "servers": command.servers,
        "until": until.isoformat() if until else None,
        "by": caller.actor,
    }
    runtime.store.settings.put(FLOORS, floors)
    span = f"until {local_time(until, runtime.settings.timezone)}" if until else "until changed"
    return Reply(
        f"Floor: at least {command.servers} servers on {command.provider} {span}. Running a capacity check.",
        public=True,
        followup=Followup("floor"),
    )


def _unreserve(reservation_id: str, runtime: Runtime, caller: Caller, now: datetime) -> Reply:
    """Cancel one reservation, as the closure webhook's DELETE does (a request signed before the cancel
    cannot bring it back); the next check lets its servers go as their hour ends."""
    from chalicelib.service.closures import NotFound, cancel

    known = [r for r in runtime.store.reservations.reservations() if r.id == reservation_id]
    try:
        cancel(runtime.store, reservation_id, now)
    except NotFound:
        return Reply(f"No reservation {reservation_id!r}. `status` lists those to come with their ids.")
    users = f" ({known[0].expected_users} users)" if known else ""
    return Reply(
        f"Reservation {reservation_id}{users} cancelled by {caller.user_name or caller.actor}; "
        "running a capacity check.",
        public=True,
        followup=Followup(f"unreserve {reservation_id}"),
    )


def _drain(server: str, runtime: Runtime, caller: Caller, now: datetime) -> Reply:
    known = {s.name: s for s in runtime.store.servers.servers()}
    record = known.get(server)
    if record is None or record.state in FINAL:
        return Reply(f"No running server named {server!r}. `status` lists the fleet.")
    provider = runtime.settings.providers.get(record.provider)
    if provider is not None and provider.mode == "static":
        return Reply(
            f"{server} belongs to the owned pool ({record.provider}), which bbbscale never stops: "
            "cordon it in Scalelite for maintenance."
        )
    requests = dict(runtime.store.settings.get(DRAIN, None) or {})
    if server in requests:
        return Reply(f"{server} is already being drained (asked by {requests[server].get('by', '?')}).")
    requests[server] = {"by": caller.actor, "at": now.isoformat()}
    runtime.store.settings.put(DRAIN, requests)
    if record.state in (ServerState.SERVING, ServerState.DRAINING):
        what = "it keeps its classes, gets no new ones, and stops once empty"
    else:  # still booting: the drain is kept and applied once it serves (status lists it meanwhile)
        what = (
            f"it is still {record.state.value}: it is cordoned at the first capacity check after it serves "
            "(it may take a room in between), keeps its classes and stops once empty"
        )
    return Reply(
        f"Draining {server}: {what}. Running a capacity check.",
        public=True,
        followup=Followup(f"drain {server}"),
    )


def describe_status(status: dict, zone: str = "UTC") -> str:
    """`status` as a few lines: fleet per provider and state, desired, load and spare capacity (what the
    serving servers carry beyond the measured load; the headroom is the configured margin, not this),
    overrides, reservations. Times in `zone` (the fleet's configured time zone)."""
    lines = [f"bbbscale status at {local_time(status.get('at'), zone)}"]
    load = status.get("load") or {}
    if load:
        spare = status.get("spare_units", 0)
        lines.append(
            f"Load: {load.get('participants', 0)} users in {load.get('meetings', 0)} meetings, "
            f"{load.get('load_units', 0)} units; spare capacity {spare} units"
        )
    direct = status.get("meetings_direct")
    if direct:
        lines.append(
            f"Load read from each server's own getMeetings until {local_time(direct.get('until'), zone)}: "
            f"Scalelite's getMeetings timed out at {local_time(direct.get('at'), zone)}"
        )
    checked = "last_tick" not in status or status["last_tick"] is not None  # documents without the key: old
    if not checked:
        lines.append(
            "No capacity check yet: the load and the desired servers appear after the first one "
            "(the timer runs it every minute)"
        )
    desired = status.get("desired") or {}
    fleet = status.get("fleet") or {}
    if not fleet:
        lines.append("No servers recorded yet")
    for provider, states in sorted(fleet.items()):
        counts = ", ".join(f"{state} {n}" for state, n in sorted(states.items()) if n)
        wanted = desired.get(provider, 0) if checked else "?"
        lines.append(f"  {provider}: {counts or 'no servers'} (desired {wanted})")
    freeze = status.get("freeze")
    if freeze:
        lines.append(
            f"FROZEN until {local_time(freeze['until'], zone) if freeze.get('until') else 'unfrozen'} "
            f"by {freeze.get('by', '?')}" + (f": {freeze['reason']}" if freeze.get("reason") else "")
        )
    for server, asked in sorted((status.get("drains") or {}).items()):
        lines.append(
            f"Drain asked: {server} by {asked.get('by', '?')} at {local_time(asked.get('at'), zone)}"
        )
    for provider, floor in sorted((status.get("floors") or {}).items()):
        if not isinstance(floor, dict):
            floor = {"servers": floor}
        until = f" until {local_time(floor['until'], zone)}" if floor.get("until") else ""
        by = f" (by {floor['by']})" if floor.get("by") else ""
        lines.append(f"Floor: {provider} >= {floor.get('servers')}{until}{by}")
    for reservation in status.get("reservations") or []:
        lines.append(
            f"Reserved: {reservation.get('expected_users')} users "
            f"{local_time(reservation.get('starts_at'), zone)} to {local_time(reservation.get('ends_at'), zone)} "
            f"({reservation.get('id')})"
        )
    guard = status.get("guard") or {}
    for held in guard.get("cordoned") or []:
        lines.append(f"Burst guard holds {held.get('server')} out of placement: {held.get('reason')}")
    if guard.get("failed_looks"):
        lines.append(
            f"Burst guard: {guard['failed_looks']} look(s) failed and were skipped "
            f"(last: {guard.get('last_failure')})"
        )
    spread = guard.get("last_spread")
    if spread:
        lines.append(
            f"Last burst ({local_time(spread.get('at'), zone)}): rooms per server CV {100 * spread.get('rooms_cv', 0):.0f} %, "
            f"load CV {100 * spread.get('load_cv', 0):.0f} %, {spread.get('overloaded', 0)} server(s) overloaded"
        )
    return "\n".join(lines)


def describe_plan(plan: dict) -> str:
    """`plan N` as one answer: servers per provider, unmet servers, hourly cost."""
    servers = ", ".join(f"{p} {n}" for p, n in plan.get("servers", {}).items() if n) or "none"
    text = (
        f"{plan.get('users')} users = {plan.get('load_units')} load units: {servers} "
        f"({plan.get('total_servers')} servers), {plan.get('hourly_cost')} {plan.get('currency', '')}/hour"
    )
    if plan.get("unmet_servers"):
        text += f"\nQuotas cannot supply {plan['unmet_servers']} more servers."
    return text


def describe_history(entries: list[HistoryEntry], zone: str = "UTC") -> str:
    """The history as lines, newest first, times in `zone`."""
    if not entries:
        return "No history yet."
    return "\n".join(f"{local_time(e.at, zone)} [{e.kind}] {e.summary}" for e in entries)
