"""Servers Scalelite keeps offline though they answer bbbscale: its poller does not reach them (issue 19).

Scalelite v1.6.1 polls every server's getMeetings on POLLER_THREADS - 1 workers, waits POLLER_WAIT_TIMEOUT
(10 s) and 5 s more, then kills the round: the servers not polled by then are never saved, so a server
never brought online stays offline. At 0.3 s a getMeetings that is ~200 servers with the default 5
threads; a doubled school day asks for ~300. The servers registered last are the ones cut, and a
replacement registers last too: replacing them (the rule for a server gone offline) only queues a new
VM behind them, billed. Seen on the simulator's doubled Thursday: 100 replacements in two hours, 100
servers paid and never serving. So a server overdue for replacement that answers bbbscale's own check
is held instead, with a reason naming the cure (POLLER_THREADS), and no server is started while any is
held so: it would wait in the same queue. Pure, like the planner.
"""

from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.domain.decision import Action, Observation
from chalicelib.domain.fleet import Server, ServerState
from chalicelib.domain.kinds import HoldKind


def answers(obs: Observation, s: Server) -> bool:
    """Whether the server answered bbbscale's own check this tick (asked when Scalelite holds it offline)."""
    check = obs.checks.get(s.name)
    return check is not None and check.healthy is True


def unpolled_hold(name: str, s: Server) -> Action:
    """A serving server Scalelite keeps offline though it answers bbbscale: Scalelite's poller is not
    reaching it. v1.6.1 waits POLLER_WAIT_TIMEOUT (10 s, then 5 s) for a round on POLLER_THREADS - 1
    workers and drops the servers not polled by then, so past ~200 servers at 0.3 s a getMeetings the
    last registered never come online. A replacement registers last too: it would queue behind it,
    billed for nothing (issue 19: 100 such replacements on a doubled Thursday). Held and said; it
    still counts as active, so nothing is started in its place either."""
    return Action(
        "hold",
        name,
        f"{s.name} answers bbbscale but Scalelite has kept it offline for {s.offline_ticks} ticks: not "
        "replaced (a replacement would wait the same); Scalelite brings it online at its next poll that "
        "reaches it. If it stays offline, Scalelite's poller does not reach it (a round cut at "
        "POLLER_WAIT_TIMEOUT: raise POLLER_THREADS for this fleet) or its registration's secret is wrong",
        server=s.name,
        hold=HoldKind.UNPOLLED,
    )


def unpolled_names(obs: Observation, settings: Settings) -> frozenset[str]:
    """Healthy serving servers Scalelite has kept offline past the replacement threshold: they count as
    active (nothing is started in their place) but are the first surplus to cordon."""
    overdue = settings.lifecycle.offline_ticks_before_replace
    return frozenset(
        s.name
        for s in obs.fleet.servers
        if s.state == ServerState.SERVING and s.offline_ticks >= overdue and answers(obs, s)
    )


def unpolled_count(obs: Observation, settings: Settings) -> int:
    """How many servers `unpolled_names` finds."""
    return len(unpolled_names(obs, settings))


def no_start_while_unpolled(provider: str, target: int, active: int, unpolled: int) -> Action:
    """The start a provider would make, held while Scalelite leaves healthy servers unpolled."""
    return Action(
        "hold",
        provider,
        f"desired {target} > active {active}, but Scalelite keeps {unpolled} healthy server(s) offline "
        "(its poller does not reach them): a server started now would wait behind them, billed; no start "
        "until Scalelite polls them",
        hold=HoldKind.UNPOLLED,
    )
