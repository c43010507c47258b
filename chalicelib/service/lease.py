"""The tick lease as a tick holds it: short, renewed by a heartbeat while the tick works, checked before
each act.

A lease that lasts as long as the longest tick could take (the old 300 s) is also how long a killed
holder blocks every other capacity check: five minutes of no scaling at a class start. So the lease is
short (`lifecycle.lease_seconds`, 60 s by default) and a heartbeat thread renews it every third of that
while the tick observes and acts, however long a provider batch takes. A holder that was killed renews
nothing, so another process takes over once the lease lapses.

A holder can also lose the lease while alive (paused past its end, its store unreachable for a while):
the heartbeat then fails, and `holds()` — called before every act — says so, so a tick that lost its
lease stops acting. Intent records and conditional writes (actuator.py) still make sure that the same
action is never carried out twice even across that edge.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime

log = logging.getLogger("bbbscale")


def new_owner() -> str:
    """A lease owner id that says which process holds it (host and pid), unique per tick."""
    return f"tick-{socket.gethostname()[:20]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class LeaseHold:
    """One tick's hold on the lease: `take()` once, `holds()` before each act, `release()` at the end.

    `heartbeat` is the renewal period in real seconds (default a third of the lease); 0 renews only in
    `holds()` (the in-process simulator, whose ticks take milliseconds of real time)."""

    def __init__(
        self,
        lease,
        owner: str,
        clock: Callable[[], datetime],
        ttl_seconds: int,
        heartbeat: float | None = None,
    ):
        self.lease, self.owner, self.clock, self.ttl = lease, owner, clock, ttl_seconds
        self.heartbeat = ttl_seconds / 3 if heartbeat is None else heartbeat
        self._lost = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self, now: datetime) -> bool:
        """Acquire the lease; on success, start the heartbeat."""
        if not self.lease.acquire(self.owner, now, self.ttl):
            return False
        if self.heartbeat > 0:
            self._thread = threading.Thread(target=self._beat, name="bbbscale-lease", daemon=True)
            self._thread.start()
        return True

    def holds(self) -> bool:
        """True while this tick still holds the lease (a fresh read from the store). Once lost, always
        lost: a lease taken over is never quietly taken back in the same tick."""
        if self._lost.is_set():
            return False
        try:
            held = self.lease.holds(self.owner, self.clock())
        except Exception as error:  # noqa: BLE001 - an unreadable store is not a lease we can trust
            log.warning("lease check failed: %s", type(error).__name__)
            held = False
        if not held:
            self._lost.set()
        return held

    def release(self) -> None:
        """Stop the heartbeat and free the lease (only if still ours)."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.lease.release(self.owner)

    def _beat(self) -> None:
        while not self._done.wait(self.heartbeat):
            try:  # renew only a lease still ours: a lapsed one may have been used by another tick meanwhile
                now = self.clock()
                renewed = self.lease.holds(self.owner, now) and self.lease.acquire(self.owner, now, self.ttl)
            except Exception as error:  # noqa: BLE001 - a failed renewal must end acting, not the thread
                log.warning("lease renewal failed: %s", type(error).__name__)
                renewed = False
            if not renewed:
                self._lost.set()
                return
