"""bbbscale's burst guard over one scenario's Scalelite (tests/real_scalelite/backends.py: the model or the
real one), through the same HTTP adapters as in production, for the scenarios that put the guard and an
operator on one fleet (test_guard_and_operator.py).

The servers are bbbscale's serving owned servers of `CAPACITY` units; the timetable has a class start at
the current minute (the guard is in its window); decisions are not held (`hold_seconds` 0) and a held
server's rooms are read again at every look, so a scenario reaches each decision in one look. `between`
runs an action right after the guard's next getServers: what an operator sends while a look is under way;
`across_a_round` sends the guard's next updateServer while a poll round is in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from chalicelib.adapters.scalelite.client import ScaleliteClient
from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.bootstrap import Wiring
from chalicelib.config_file import load_settings
from chalicelib.domain.fleet import Server, ServerState
from chalicelib.service.guard import BurstGuard
from chalicelib.service.service_ports import GuardPorts

CAPACITY = 300.0


class Guarded:
    """A BurstGuard on `backend`'s Scalelite; `sent` lists every (server name, state) it sent."""

    def __init__(self, backend):
        self.backend = backend
        base = load_settings()
        minute = datetime.now(ZoneInfo(base.timezone)).strftime("%H:%M")
        timetable = base.forecast.timetable.model_copy(update={"starts": dict.fromkeys(range(7), [minute])})
        settings = base.model_copy(
            update={
                "forecast": base.forecast.model_copy(update={"timetable": timetable, "enabled": False}),
                "scalelite": base.scalelite.model_copy(update={"url": backend.url, "retries": 0}),
                "guard": base.guard.model_copy(update={"hold_seconds": 0.0, "cordoned_read_seconds": 0.5}),
            }
        )
        store = MemoryStateStore(cluster=settings.cluster)
        now = datetime.now(UTC)
        for n, (name, server_id) in enumerate(backend.ids.items()):
            store.servers.save(
                Server(
                    f"bbbscale-{settings.cluster}-owned-{n + 1}",
                    "owned",
                    ServerState.SERVING,
                    now,
                    CAPACITY,
                    url=backend.server_url(name),
                    scalelite_id=server_id,
                )
            )
        self.store = store
        client = ScaleliteClient(settings.scalelite, backend.secret)
        self.names = {v: k for k, v in backend.ids.items()}
        self.sent: list[tuple[str, str]] = []
        self._between: Callable[[], object] | None = None
        self._across = False
        real_set_state, real_servers = client.set_state, client.servers

        def set_state(server_id: str, state: str) -> None:
            across, self._across = self._across, False
            if across:  # a poll round reads every server, then this is sent, then the round saves
                backend.during_round(lambda: real_set_state(server_id, state))
            else:
                real_set_state(server_id, state)
            self.sent.append((self.names.get(server_id, server_id), state))

        def servers():
            answer = real_servers()
            action, self._between = self._between, None
            if action is not None:
                action()
            return answer

        client.set_state, client.servers = set_state, servers  # type: ignore[method-assign]
        wiring = Wiring(
            settings, store=store, scalelite=client, providers={}, clock=lambda: datetime.now(UTC)
        )
        self.guard = BurstGuard(GuardPorts.of(wiring.ports()), wiring.memory)

    def look(self) -> list[dict]:
        """One look of the guard, now; the changes it made."""
        return self.guard.check(datetime.now(UTC))

    def between(self, action: Callable[[], object]) -> None:
        """Run `action` right after the next look's getServers (the look then acts on what it read)."""
        self._between = action

    def across_a_round(self) -> None:
        """Send the guard's next updateServer while a poll round is in flight: the round read every server
        before it and saves them after it (Scalelite's silent undo of a cordon)."""
        self._across = True

    def history(self) -> list[str]:
        return [e.summary for e in self.store.history.recent(200, kind="guard")]
