"""What a look at Scalelite costs a scaler in the simulator: time, and now and then a failure.

On a real fleet each call the burst guard makes (getServers, a server's getMeetings, updateServer) takes
a round trip, during which creates, joins and Scalelite's poller go on; and some calls fail. The
simulated adapters (bbbsim/direct.py) call `pay(call)` before answering: while `active` (the
replay sets it during the guard's look only, so the tick's figures stay as they were), each call moves
the replay's clock on by `latency_s` (a BBB server's getMeetings by `latency_s / concurrency`: the real
guard reads servers `server_poll_concurrency` at a time) through `on_wait`, which lets the world's
events of that time happen first; and fails with probability `failure_rate` (seeded: a replay is
repeatable) with UnreachableError, as a timeout would.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.ports import UnreachableError


@dataclass
class LookCost:
    latency_s: float = 0.0
    failure_rate: float = 0.0
    seed: int = 0
    concurrency: int = 32
    active: bool = False
    on_wait: Callable[[float], None] | None = None
    calls: int = 0
    failures: int = 0
    waited_s: float = 0.0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.latency_s < 0 or not 0 <= self.failure_rate <= 1 or self.concurrency < 1:
            raise ValueError("latency_s >= 0, 0 <= failure_rate <= 1 and concurrency >= 1, please")
        self._rng = random.Random(self.seed)

    def pay(self, call: str, per_server: bool = False) -> None:
        """Charge one call (raises UnreachableError when it fails); nothing while not `active`."""
        if not self.active:
            return
        self.calls += 1
        wait = self.latency_s / (self.concurrency if per_server else 1)
        if wait and self.on_wait is not None:
            self.waited_s += wait
            self.on_wait(wait)
        if self.failure_rate and self._rng.random() < self.failure_rate:
            self.failures += 1
            raise UnreachableError(f"simulated failure of {call}")
