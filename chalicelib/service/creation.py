"""A scale-up in batches that a tick's time can hold; what does not fit is left to the next tick.

A provider creates a batch in parallel within its rate limit (adapters/providers/bulk.py), but one
create can take a minute (CloudStack polls each deploy job) and a Lambda tick is killed at its timeout.
So a start of N servers is sent in batches of the provider's `concurrency` (what it runs at once): the
intent (a REQUESTED record) of a batch is written right before the batch is sent, and before each batch
after the first the act step's elapsed time plus the longest batch so far must stay within
`lifecycle.create_budget_seconds`. The servers of the batches not sent get no record at all: the next
tick sees only what was asked, decides again (the need may have changed) and starts the rest, so no
server is asked for twice, and a tick killed mid-batch leaves at most one batch of REQUESTED records for
reconciliation to confirm or fail. The first batch is always sent: every tick makes progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.domain.fleet import VM, Server
from chalicelib.ports import LaunchSpec, Provider, ProviderError
from chalicelib.service.service_ports import CreationPorts

#: The batch when the provider's options give no `concurrency` (HostedOptions' default).
DEFAULT_BATCH = 8
#: The process's clock the budget is measured on (tests set their own).
SECONDS: Callable[[], float] = time.monotonic


@dataclass
class Creation:
    """What came of a start: the servers whose intent was written (and sent), how many were created, how
    many were left for the next tick and why, and the failure that ended it, if one did."""

    asked: int
    requested: list[str] = field(default_factory=list)
    created: int = 0
    deferred: int = 0
    why_deferred: str = ""
    error: ProviderError | None = None
    refused: list[str] = field(default_factory=list)  # the batch refused for good (not retryable)
    lost: bool = False  # the tick's lease was lost between batches: nothing more was written or sent


def batch_size(ports: CreationPorts, provider: str) -> int:
    """What the provider creates at once (its `concurrency` option): one batch takes about one create."""
    options = ports.settings.providers[provider].options or {}
    return max(1, int(options.get("concurrency") or DEFAULT_BATCH))


def create_in_batches(
    ports: CreationPorts,
    provider_name: str,
    count: int,
    new_record: Callable[[], Server],
    spec_of: Callable[[Server], LaunchSpec],
    on_created: Callable[[list[VM], list[Server]], None],
    started: float,
    monotonic: Callable[[], float],
    holds: Callable[[], bool] = lambda: True,
) -> Creation:
    """Create `count` servers of `provider_name` batch by batch while the act step's budget allows (see
    the module doc). `new_record` writes one server's intent record; `on_created(vms, records)` follows
    each batch (records, DNS); a failed batch ends the start. Time is the process's own (`monotonic`,
    from `started`; `SECONDS`), not the fleet's clock: a simulated day runs faster than real time.

    `holds()` (the tick's lease) is asked before each batch's intents are written and again right before
    they are sent: a tick paused past its lease and taken over writes and sends nothing more (it sent its
    next batch after the pause, and the tick that took over started the same servers: 29 VMs for 21)."""
    provider: Provider = ports.providers[provider_name]
    budget = ports.settings.lifecycle.create_budget_seconds
    size = batch_size(ports, provider_name)
    outcome = Creation(asked=count)
    longest = 0.0
    while len(outcome.requested) < count:
        elapsed = monotonic() - started
        if outcome.requested and elapsed + longest > budget:
            outcome.deferred = count - len(outcome.requested)
            outcome.why_deferred = (
                f"{outcome.deferred} left for the next tick: this tick has acted for {elapsed:.0f} s of its "
                f"{budget:.0f} s budget and a batch of {size} took up to {longest:.0f} s"
            )
            break
        if not holds():
            outcome.lost = True
            break
        records = [new_record() for _ in range(min(size, count - len(outcome.requested)))]
        outcome.requested += [r.name for r in records]
        if not holds():  # written, not sent: reconciliation fails the intents of a create never sent
            outcome.lost = True
            break
        ports.progress(
            f"{provider_name}: creating {len(records)} server(s) ({len(outcome.requested)}/{count})"
        )
        before = monotonic()
        try:
            vms = provider.create([spec_of(r) for r in records])
        except ProviderError as error:
            outcome.error = error
            outcome.refused = [] if error.retryable else [r.name for r in records]
            break
        finally:
            longest = max(longest, monotonic() - before)
        outcome.created += len(vms)
        on_created(vms, records)
    return outcome
