"""Per-server lifecycle rules: boot progress, drain completion, billing timing, staleness. Pure.

Why the drain rule is strict: Scalelite pins each meeting to one server for its whole life and its
deleteServer ignores meetings (docs/scalelite-and-bbb.md), so a server is stopped only when Scalelite shows
it cordoned/disabled with load 0 AND the server's own getMeetings shows no meeting AND no recording is left
on it (every one transferred to Scalelite: the image's post-publish transfer deletes the local copy, so
any recording BBB still lists, processing or published, would die with the VM) — and, for hourly billing,
its paid hour is about to end. The wait for recordings is bounded (`recording_max_wait_minutes`): past it
the server is still kept, and the operators are told (`recordings_overdue`).
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.config import LifecycleSettings, ProviderSettings
from chalicelib.domain.decision import Action, ServerCheck
from chalicelib.domain.fleet import ScaleliteServer, Server, ServerState

PERIOD_SECONDS = {"second": 0, "minute": 60, "hour": 3600}


def minutes(delta) -> float:
    return delta.total_seconds() / 60.0


def minutes_to_period_end(server: Server, billing: str, now: datetime) -> float:
    """Minutes until the current paid period ends (0 for per-second billing: any time is the end)."""
    period = PERIOD_SECONDS[billing]
    if period == 0 or server.billed_since is None:
        return 0.0
    elapsed = (now - server.billed_since).total_seconds()
    return (period - elapsed % period) / 60.0


def stale_reason(
    server: Server, provider: ProviderSettings, lifecycle: LifecycleSettings, now: datetime
) -> str | None:
    """Why a serving server should be recycled (too old, or on an image other than the configured one)."""
    if provider.mode == "static":
        return None
    if server.image and server.image != provider.image:
        return f"image {server.image} is not the configured {provider.image}"
    born = server.created_at or server.billed_since
    if born and minutes(now - born) > lifecycle.max_age_days * 1440:
        return f"up {minutes(now - born) / 1440:.1f} days > {lifecycle.max_age_days:g}"
    return None


def boot_actions(
    server: Server, check: ServerCheck | None, provider: ProviderSettings, now: datetime
) -> list[Action]:
    """Move a booting server on: register and enable once healthy, replace it if it took too long."""
    waited = minutes(now - (server.created_at or server.since))
    if server.state in (ServerState.BOOTING, ServerState.HEALTHY) and check and check.healthy:
        return [
            Action(
                "register",
                server.provider,
                f"{server.name} healthy after {waited:.0f} min",
                server=server.name,
            ),
            Action(
                "enable",
                server.provider,
                f"{server.name} registered: enable in Scalelite",
                server=server.name,
            ),
        ]
    if server.state == ServerState.REGISTERED:
        return [
            Action(
                "enable",
                server.provider,
                f"{server.name} registered: enable in Scalelite",
                server=server.name,
            )
        ]
    if server.state == ServerState.BOOTING and waited > provider.max_provision_minutes:
        why = check.problem if check and check.problem else "not healthy"
        return [
            Action(
                "replace",
                server.provider,
                f"{server.name} {why} after {waited:.0f} min > {provider.max_provision_minutes:g}: destroy and replace",
                server=server.name,
            )
        ]
    return []


def drain_verdict(
    server: Server,
    registered: ScaleliteServer | None,
    check: ServerCheck | None,
    provider: ProviderSettings,
    lifecycle: LifecycleSettings,
    now: datetime,
) -> tuple[bool, str]:
    """(may stop now?, why). Every condition must hold; the first that fails is the reason to wait."""
    if registered is not None:
        if registered.state not in ("cordoned", "disabled"):
            return False, f"Scalelite shows {server.name} {registered.state}, not cordoned"
        # Scalelite's poller turns a cordoned server `disabled` once its load is 0, and a disabled server
        # has no load ("unavailable"; docs/scalelite-and-bbb.md, states): that is the drained case, not doubt.
        # The server's own getMeetings below still has to confirm it is empty.
        unloaded = registered.load is None and registered.state == "disabled"
        if not unloaded and (registered.load is None or registered.load > 0):
            return (
                False,
                f"Scalelite load of {server.name} is {registered.load if registered.load is not None else 'unavailable'}",
            )
    # A registration gone from Scalelite's list (a stop killed between deleteServer and saving the record,
    # or an operator's delete) places nothing on the server any more: its own getMeetings decides below.
    never_registered = registered is None and server.scalelite_id is None
    if never_registered:
        check = ServerCheck(meetings=0)  # never in Scalelite: no meeting can have been placed on it
    if check is None or check.meetings is None:
        problem = check.problem if check and check.problem else "no answer"
        return False, f"{server.name} own getMeetings unread ({problem})"
    if check.meetings > 0:
        return False, f"{server.name} still has {check.meetings} meeting(s)"
    if check.recordings_pending:
        overdue = recordings_overdue(server, check, lifecycle, now)
        return False, overdue or (
            f"{server.name} has {check.recordings_pending} recording(s) not yet transferred to Scalelite"
        )
    left = minutes_to_period_end(server, provider.billing, now)
    if provider.billing == "hour" and left > lifecycle.scale_in_window_minutes:
        return False, f"{server.name} empty; paid hour ends in {left:.0f} min, stopping then"
    return True, f"{server.name} empty in Scalelite and on the server, paid period ends in {left:.0f} min"


def recordings_overdue(
    server: Server, check: ServerCheck | None, lifecycle: LifecycleSettings, now: datetime
) -> str | None:
    """Why the operators must look at a drained server whose recordings have waited past their bound:
    they are kept (stopping would lose them), and a person decides (a stuck processing, a spool that
    refuses the transfer)."""
    if check is None or not check.recordings_pending:
        return None
    waited = minutes(now - server.since)
    if waited < lifecycle.recording_max_wait_minutes:
        return None
    return (
        f"{server.name} still has {check.recordings_pending} recording(s) not transferred to Scalelite "
        f"after {waited:.0f} min (> {lifecycle.recording_max_wait_minutes:g}): kept, not stopped; check its "
        "recording processing and the Scalelite spool"
    )


def stuck_drain(server: Server, lifecycle: LifecycleSettings, now: datetime) -> str | None:
    """A drain lasting longer than configured is reported to the operators, never forced."""
    lasted = minutes(now - server.since)
    if server.state == ServerState.DRAINING and lasted > lifecycle.drain_report_minutes:
        return f"drain of {server.name} has lasted {lasted:.0f} min (> {lifecycle.drain_report_minutes:g}); not forced"
    return None


def victim_order(
    server: Server, provider: ProviderSettings, now: datetime, stale: bool, load: float = 0.0
) -> tuple:
    """Sort key for scale-down victims: stale first, then not yet serving, then hourly servers nearest the
    end of their paid period, most expensive provider first, least loaded (Scalelite's load this tick:
    its users, so the fewest meetings to wait for)."""
    serving = server.state == ServerState.SERVING
    return (
        0 if stale else 1,
        1 if serving else 0,
        minutes_to_period_end(server, provider.billing, now),
        -provider.hourly_cost,
        load,
        server.name,
    )
