"""The kinds a tick's outcome is sorted by: what became of each action (`Outcome`) and why something was
held (`HoldKind`). Plain enums with no imports, so the chat and the digest can read kinds without loading
the planner (app.py's cold start stays light).
"""

from __future__ import annotations

from enum import StrEnum

#: How a tick's problem line starts when the load was read from each server's own getMeetings
#: (Scalelite's failed or timed out): the digest tells the team when that starts and ends.
LOAD_FROM_SERVERS = "the load is read from each server's own getMeetings"


class Outcome(StrEnum):
    """What became of an action the tick carried out (the word its `result` starts with)."""

    DONE = "done"  # carried out
    PARTIAL = "partial"  # a start that got fewer servers than asked (the rest reconciled next tick)
    HELD = "held"  # a hold, or a stop that found its server not (surely) empty at the last look
    SKIPPED = "skipped"  # not tried: the lease was lost, the record changed under us, a step not due
    FAILED = "failed"  # a port refused or failed; the other actions went on


class HoldKind(StrEnum):
    """Why something was held, as a kind the digest and the chat can sort on (the reason says it in words
    for people). The planner names the kinds of its `hold` actions; the tick, the actuator and the DNS step
    name theirs."""

    LEASE = "lease"  # another capacity check holds the lease: this one acts on nothing
    FROZEN = "frozen"  # an operator froze scaling
    QUOTA = "quota"  # the quotas cannot supply what the load needs: operators must act
    STATIC_POOL = "static_pool"  # a static pool is short of servers and has no API to start more
    BACKOFF = "backoff"  # a provider backing off after failures
    UNREACHABLE = "unreachable"  # a provider's API did not answer this tick
    AT_LIMIT = "at_limit"  # a provider's live servers already at its limit
    DOUBT = "doubt"  # the observation is incomplete (load or Scalelite unknown): no scale-down on it
    STABILIZING = "stabilizing"  # a scale-down waits for the stabilization window
    PLACEABLE = "placeable"  # a cordon would leave Scalelite too few servers it can place rooms on
    UNPOLLED = "unpolled"  # a healthy server Scalelite keeps offline: its poller does not reach it
    STUCK_DRAIN = "stuck_drain"  # a drain lasting longer than configured: reported, never forced
    RECORDINGS = "recordings"  # recordings still on a drained server past their wait: reported, not forced
    BUSY = "busy"  # a stop found meetings on its server again at the last look
    UNCONFIRMED = "unconfirmed"  # a stop could not confirm its server is empty
    DNS = "dns"  # a DNS record change failed: its server stays tracked, the change is retried
    CERTIFICATE = "certificate"  # the fleet certificate's order failed: retried later, scaling goes on
