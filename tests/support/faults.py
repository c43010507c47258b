"""Fault injection around OUR ports, for the fault suite (issue 3): a simulated fleet whose provider APIs,
Scalelite and tick process fail the way real ones do, and a ledger of what bbbscale asked them.

Every fault is drawn from one seeded `random.Random`, so a scenario replays identically. The wrappers
never change what a call does; they only fail it before it happens, lose its answer after it happened,
or kill the tick (a `TickKilled`, a BaseException like Lambda's timeout kill) on either side of it.
A killed tick is a hard kill: the process is gone, so its lease is NOT released (it expires).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime

from bbbsim.direct import DirectBbb, DirectScalelite
from bbbsim.embedded import simulated_providers
from bbbsim.replay import SimClock
from bbbsim.scalelite_model import name_in_url
from bbbsim.world import SimWorld
from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.bootstrap import Wiring
from chalicelib.domain.tick_report import TickReport
from chalicelib.ports import ApiError, UnreachableError
from chalicelib.service.forecasting import NoForecast


class TickKilled(BaseException):
    """The tick's process was killed mid-step (Lambda timeout, OOM): not an Exception, so nothing in
    bbbscale can catch it and carry on."""


@dataclass
class Faults:
    """What may go wrong now. `active` False clears every fault at once (the recovery period)."""

    rng: random.Random
    kill_rate: float = 0.0  # per mutating call (provider, Scalelite, store save)
    scalelite_flaky_rate: float = 0.0  # per Scalelite call: fails, or (admin calls) answer lost after acting
    scalelite_down: bool = False  # outage window: every Scalelite call is unreachable
    scalelite_internal_error: bool = False  # getMeetings answers internalError (one bad server)
    active: bool = True
    kill_at: int | None = None  # kill at this kill point (0-based, counted over the run), whatever the rate
    points: list = field(default_factory=list)  # every kill point reached while active, in order
    killed_ticks: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    dead: set = field(default_factory=set)  # threads whose tick was killed (their lease is never released)

    def maybe_kill(self, where: str) -> None:
        with self.lock:
            if not self.active:
                return
            self.points.append(where)
            chosen = self.kill_at is not None and len(self.points) - 1 == self.kill_at
            if chosen or (self.kill_rate and self.rng.random() < self.kill_rate):
                self.killed_ticks += 1
                self.dead.add(threading.get_ident())
                raise TickKilled(where)

    def roll(self, rate: float) -> bool:
        with self.lock:
            return self.active and rate > 0 and self.rng.random() < rate


@dataclass
class Ledger:
    """What bbbscale asked of the outside world, and every rule it broke at the moment it broke it."""

    created: list[str] = field(default_factory=list)  # VM names sent to create (even if the call failed)
    added: list[str] = field(default_factory=list)  # URLs sent to addServer
    stopped: list[str] = field(default_factory=list)  # VM names stopped or destroyed
    violations: list[str] = field(default_factory=list)


class FaultyProvider:
    """The Provider port with kills around each mutating call; asserts, when a stop or destroy is sent,
    that the VM's BBB server holds no meeting (the world is the truth, not bbbscale's records)."""

    def __init__(self, inner, faults: Faults, ledger: Ledger, world: SimWorld):
        self.inner, self.faults, self.ledger, self.world = inner, faults, ledger, world
        self.name = inner.name

    def list(self):
        return self.inner.list()

    def create(self, specs):
        self.faults.maybe_kill(f"{self.name}: before create")
        self.ledger.created += [s.name for s in specs]
        result = self.inner.create(specs)
        self.faults.maybe_kill(f"{self.name}: after create")
        return result

    def start(self, vm_id):
        return self._mutate("start", vm_id)

    def stop(self, vm_id):
        return self._mutate("stop", vm_id)

    def destroy(self, vm_id):
        return self._mutate("destroy", vm_id)

    def calls(self, operation, targets):
        return self.inner.calls(operation, targets)

    def report_progress(self, to):
        self.inner.report_progress(to)

    def _mutate(self, what: str, vm_id: str):
        self.faults.maybe_kill(f"{self.name}: before {what}")
        if what in ("stop", "destroy"):
            vm_name = self._vm_name(vm_id)
            on_it = self.world.meetings_of(vm_name) if vm_name else []
            if on_it:
                self.ledger.violations.append(f"{what} {vm_name} with {len(on_it)} meeting(s) on it")
            self.ledger.stopped.append(vm_name or vm_id)
        result = getattr(self.inner, what)(vm_id)
        self.faults.maybe_kill(f"{self.name}: after {what}")
        return result

    def _vm_name(self, vm_id: str) -> str | None:
        with self.world.lock:
            vm = self.world.provider_records[self.name]["vms"].get(vm_id)
            return vm.name if vm else None

    def __getattr__(self, attribute):  # bill, server_seconds, secret_of...
        return getattr(self.inner, attribute)


class FaultyScalelite:
    """The Scalelite port with outages, internalError windows, flaky calls whose answers get lost after
    the change was made, and kills around the admin calls."""

    def __init__(self, inner, faults: Faults, ledger: Ledger):
        self.inner, self.faults, self.ledger = inner, faults, ledger

    def _gate(self, what: str) -> None:
        if self.faults.active and self.faults.scalelite_down:
            raise UnreachableError(f"Scalelite {what}: connection refused (simulated outage)")
        if self.faults.roll(self.faults.scalelite_flaky_rate / 2):
            raise UnreachableError(f"Scalelite {what}: timed out (simulated)")

    def meetings(self):
        self._gate("getMeetings")
        if self.faults.active and self.faults.scalelite_internal_error:
            raise ApiError("internalError", "Unable to access server.")
        return self.inner.meetings()

    def servers(self):
        self._gate("getServers")
        return self.inner.servers()

    def add(self, url, secret, load_multiplier, tag):
        def add():
            self.ledger.added.append(url)
            return self.inner.add(url, secret, load_multiplier, tag)

        return self._admin("addServer", add)

    def set_state(self, server_id, state):
        return self._admin(f"updateServer {state}", lambda: self.inner.set_state(server_id, state))

    def delete(self, server_id):
        return self._admin("deleteServer", lambda: self.inner.delete(server_id))

    def _admin(self, what: str, call):
        self._gate(what)
        self.faults.maybe_kill(f"Scalelite: before {what}")
        result = call()
        if self.faults.roll(self.faults.scalelite_flaky_rate / 2):
            raise UnreachableError(f"Scalelite {what}: read timed out after sending (simulated)")
        self.faults.maybe_kill(f"Scalelite: after {what}")
        return result


class _FaultyServers:
    """ServerStore whose saves can be killed on either side (a transition written, the call not made)."""

    def __init__(self, inner, faults: Faults):
        self.inner, self.faults = inner, faults

    def servers(self):
        return self.inner.servers()

    def save(self, server):
        self.faults.maybe_kill(f"store: before saving {server.name} {server.state.value}")
        saved = self.inner.save(server)
        self.faults.maybe_kill(f"store: after saving {server.name} {server.state.value}")
        return saved

    def next_number(self, provider):
        return self.inner.next_number(provider)

    def forget(self, server):
        self.faults.maybe_kill(f"store: before forgetting {server.name}")
        return self.inner.forget(server)


class _FaultySettings:
    """SettingsStore whose writes (stabilization window, provider backoff) can be killed on either side."""

    def __init__(self, inner, faults: Faults):
        self.inner, self.faults = inner, faults

    def get(self, key, default=None):
        return self.inner.get(key, default)

    def put(self, key, value):
        self.faults.maybe_kill(f"settings: before put {key}")
        self.inner.put(key, value)
        self.faults.maybe_kill(f"settings: after put {key}")


class _FaultyKept:
    """A kept-state port (chalicelib/state_ports.py) whose writes (the tick's memory of its desired
    counts, provider failures, ...) can be killed on either side; reads pass through."""

    def __init__(self, inner, faults: Faults, name: str, writes: dict):
        self.inner, self.faults, self.name, self.writes = inner, faults, name, writes

    def __getattr__(self, method):
        found = getattr(self.inner, method)
        if method not in self.writes:
            return found

        def write(*args, **kwargs):
            if not self.writes[method](self.inner, *args):  # a call that writes nothing: no kill point
                return found(*args, **kwargs)
            self.faults.maybe_kill(f"{self.name}: before {method}")
            done = found(*args, **kwargs)
            self.faults.maybe_kill(f"{self.name}: after {method}")
            return done

        return write


def _always(*_) -> bool:
    return True


#: The kept state whose writes the tick's faults may kill: port -> {writing method: whether this call
#: writes}. The kill points fall where the settings puts fell before these ports (the storm's random
#: draws, and so the pinned day of test_tick_json_pinned, stay as they were).
KEPT_WRITES = {
    "tick_memory": {"remember": _always},
    "provider_failures": {"failed": _always, "recovered": lambda port, name: name in port.failures()},
    "room_memory": {"keep": _always},
}


class WatchedLease:
    """The store's lease, as a killed process leaves it: never released by a dead tick. Counts who got
    it, and can hold every caller of one minute at a barrier until all have tried (two ticks at once)."""

    def __init__(self, inner, faults: Faults):
        self.inner, self.faults = inner, faults
        self.acquired: list[tuple[datetime, bool]] = []
        self.barrier: threading.Barrier | None = None

    def acquire(self, owner, now, ttl_seconds):
        got = self.inner.acquire(owner, now, ttl_seconds)
        with self.faults.lock:
            self.acquired.append((now, got))
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        return got

    def holds(self, owner, now):
        return self.inner.holds(owner, now)

    def holder(self, now):
        return self.inner.holder(now)

    def release(self, owner):
        with self.faults.lock:
            if threading.get_ident() in self.faults.dead:
                self.faults.dead.discard(threading.get_ident())
                return  # the process died: nobody is left to release it
        self.inner.release(owner)


class FaultyStore:
    """A MemoryStateStore seen through the fault wrappers (servers, settings, lease, the kept state the
    tick writes); the rest as it is."""

    def __init__(self, inner: MemoryStateStore, faults: Faults):
        self.inner = inner
        self.servers = _FaultyServers(inner.servers, faults)
        self.settings = _FaultySettings(inner.settings, faults)
        for port, writes in KEPT_WRITES.items():
            setattr(self, port, _FaultyKept(getattr(inner, port), faults, port, writes))
        self.lease = WatchedLease(inner.lease, faults)
        self.guard_lease = inner.guard_lease
        self.history, self.reservations = inner.history, inner.reservations

    def __getattr__(self, name):  # the other kept state, as it is
        return getattr(self.inner, name)


@dataclass
class FaultyFleet:
    """The wiring of a simulated world with every port wrapped, and the handles a test needs."""

    rt: Wiring
    world: SimWorld
    clock: SimClock
    faults: Faults
    ledger: Ledger
    store: FaultyStore
    clouds: dict  # provider name -> the SimulatedCloud itself (unwrapped), for its VM list


def faulty_fleet(settings, start: datetime, faults: Faults, world_seed: int = 0) -> FaultyFleet:
    """Wire the real service to a fresh simulated world (in process) through the fault wrappers, the way
    `bbbsim.embedded.sim_runtime` wires it without them. The owned pool is on and enabled."""
    world = SimWorld(random.Random(world_seed))
    clock = SimClock(start)
    ledger = Ledger()
    clouds = simulated_providers(settings, world, clock, lambda name: None)  # the static pool powers on
    store = FaultyStore(MemoryStateStore(cluster=settings.cluster), faults)
    rt = Wiring(
        settings,
        store=store,
        scalelite=FaultyScalelite(DirectScalelite(world), faults, ledger),
        providers={name: FaultyProvider(cloud, faults, ledger, world) for name, cloud in clouds.items()},
        bbb_factory=lambda url, secret, name: DirectBbb(world, name_in_url(url) or name, secret),
        clock=clock,
        secret=lambda name: None,
        forecaster=NoForecast(),
        notifier=lambda result: None,
    )
    world.advance(start)
    return FaultyFleet(rt, world, clock, faults, ledger, store, clouds)


def tick(fleet: FaultyFleet, now: datetime) -> TickReport | None:
    """One scheduled tick; None when the fault suite killed it half-way."""
    try:
        return fleet.rt.tick(now=now)
    except TickKilled:
        return None


def ticks_at_once(fleet: FaultyFleet, now: datetime, n: int = 2) -> list[TickReport | None]:
    """`n` ticks for the same minute from `n` threads, each trying the lease before any goes on."""
    lease = fleet.store.lease
    lease.barrier = threading.Barrier(n)
    results: list[TickReport | None] = [None] * n

    def run(i: int) -> None:
        results[i] = tick(fleet, now)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        lease.barrier = None
    return results
