"""What one tick saw, decided and did, as plain frozen values: the `TickReport`. No I/O here.

The tick (service/tick.py) builds it; domain/tick_document.py writes the `tick --json` document of
docs/contract.md (what the edges print and the history keeps), chalicelib/render.py the lines for
people, and the digest (service/digest.py) sorts the actions for the chat by their kinds. Nothing reads a reason's words to learn
what happened: each action carries its `Outcome` and, when held, its `HoldKind`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.decision import Action
from chalicelib.domain.dns import DnsChange
from chalicelib.domain.fleet import Server
from chalicelib.domain.kinds import HoldKind, Outcome
from chalicelib.domain.load import LoadTotals


def result_words(outcome: Outcome | None, detail: str) -> str | None:
    """ "done", "held", "failed: <error>"...: the words the actuator has always written (None: not done)."""
    if outcome is None:
        return None
    return f"{outcome.value}: {detail}" if detail else outcome.value


@dataclass(frozen=True, slots=True)
class ActionReport:
    """One action and what became of it. `outcome` is None in a dry run (nothing was carried out; `calls`
    then says what would be called). `detail` is the words after the outcome (an error, a count); `hold`
    says why it was held (a `hold` action's own kind unless another is given)."""

    action: Action
    outcome: Outcome | None = None
    detail: str = ""
    hold: HoldKind | None = None
    calls: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.hold is None and self.action.hold is not None:  # a hold keeps the planner's kind
            object.__setattr__(self, "hold", self.action.hold)

    @classmethod
    def of(cls, action: Action, outcome: Outcome, detail: str = "", hold: HoldKind | None = None):
        """The outcome of a carried-out action (`hold`: why it was held, when not the planner's hold)."""
        return cls(action, outcome, detail, hold)

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED

    @property
    def result(self) -> str | None:
        """The contract's `result` words: the outcome, then its detail ("failed: quota exceeded")."""
        return result_words(self.outcome, self.detail)


@dataclass(frozen=True, slots=True)
class DnsReport:
    """One DNS record change and how it went (`outcome` None in a dry run, with the `calls` it would make)."""

    change: DnsChange
    outcome: Outcome | None = None
    detail: str = ""
    calls: tuple[str, ...] | None = None

    @property
    def result(self) -> str | None:
        return result_words(self.outcome, self.detail)


@dataclass(frozen=True, slots=True)
class LoadReport:
    """The load the tick observed: the `load --json` sums, the load units it decided on, and whether every
    server could be read (a partial load may scale up, never down)."""

    totals: LoadTotals
    load_units: float
    complete: bool = True
    from_servers: bool = False  # each server's own getMeetings, not Scalelite's (not in the document)


@dataclass(frozen=True)
class TickReport:
    """One tick's outcome, typed to the edges. `load` is None when no load could be read. `dns` is None
    without `[dns]`; `guard` is None in a dry run (the burst guard's changes wait for an acting tick);
    `herding` is the spread the guard measured after a burst, once. A tick that found the lease held
    reports only that (`lease_held`)."""

    at: datetime
    dry_run: bool
    load: LoadReport | None
    desired: Mapping[str, int]
    fleet: Mapping[str, Mapping[str, int]]  # {provider: {state word: servers}}, final states left out
    actions: tuple[ActionReport, ...]
    version: str
    needed_units: float = 0.0
    unmet_servers: int = 0
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    servers: tuple[Server, ...] = ()  # the live servers, by provider then name
    dns: tuple[DnsReport, ...] | None = None
    tick_id: str | None = None
    guard: tuple[str, ...] | None = None
    herding: Mapping[str, object] | None = None

    @property
    def lease_held(self) -> bool:
        """True when another capacity check held the lease: this tick observed and did nothing."""
        return any(a.hold is HoldKind.LEASE for a in self.actions)

    def held(self, kind: HoldKind) -> tuple[ActionReport, ...]:
        """The actions held for `kind`."""
        return tuple(a for a in self.actions if a.hold is kind)
