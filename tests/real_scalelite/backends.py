"""One scenario, two Scalelites: the simulator's model (always) and the real one (when a checkout is given).

Both are driven the same way, over HTTP with bbbscale's own Scalelite client for the admin API and
signed BBB calls for create and join (a join's redirect is followed, as a browser does: the real
Scalelite only counts the user on its load, the BBB server counts them in the meeting). What differs
is the poller, which a scenario must be able to put at a known point:

- `poll_round()`: one whole round that starts after the call (the model runs it; for the real one we
  wait for the next round of `rake poll[N]` to read every server and save it);
- `during_round(action)`: `action` after a round has read every server, before it saves them (the
  model splits its round; on the real one the action runs as soon as the first getMeetings of a new
  round reaches a BBB server, which Scalelite sends only after `Server.all` read every record, and the
  BBB servers hold their getMeetings answers until the action is done, so the saves come after it
  however long the action's own calls take);
- `polls_held()`: no poll round saves anything while it is in force (the model polls only when asked;
  the real one's BBB servers hold their getMeetings answers): "between two polls" whatever the pace
  of the scenario's own calls on a loaded machine;
- `placement()`: Scalelite's placement set `server_load` (the real one's read from its Redis).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta

import requests

from bbbsim.bbb_http import SimBbbServers
from bbbsim.scalelite_http import LocalScalelite
from bbbsim.world import SimWorld
from chalicelib.adapters.scalelite.checksum import signed_query
from chalicelib.adapters.scalelite.client import ScaleliteClient
from chalicelib.config import ScaleliteSettings
from chalicelib.domain.fleet import ScaleliteServer
from tests.real_scalelite.harness import RealScalelite

GETMEETINGS_S = 0.3  # each BBB server's getMeetings, as the poller waits for it
HOLD_S = 8.0  # the longest a BBB server holds a getMeetings answer: below Scalelite's RESPONSE_TIMEOUT (10 s)


class Backend:
    """What a scenario drives. Subclasses say how the poller is reached."""

    kind = "?"

    def __init__(self, url: str, secret: str, world: SimWorld):
        self.url = url
        self.secret = secret
        self.world = world
        self.client = ScaleliteClient(ScaleliteSettings(url=url, checksum="sha256", retries=0), secret)
        self.http = requests.Session()
        self.ids: dict[str, str] = {}  # server name -> Scalelite id

    def server_url(self, name: str) -> str:
        raise NotImplementedError

    # --- servers ------------------------------------------------------------------------------------
    def add_server(self, name: str, enable: bool = True) -> str:
        """Power a BBB server on, register it (disabled), enable it; its Scalelite id."""
        secret = f"secret-of-{name}-0123456789"
        self.world.add_bbb_server(name, secret, 100.0, datetime.now(UTC))
        server = self.client.add(self.server_url(name), secret)
        self.ids[name] = server.id
        if enable:
            self.client.set_state(server.id, "enable")
        return server.id

    def set_state(self, name: str, state: str) -> None:
        self.client.set_state(self.ids[name], state)

    def reported(self, name: str) -> ScaleliteServer:
        """getServerInfo: the state and load Scalelite reports."""
        return self.client.server(self.ids[name])

    def placeable(self) -> dict[str, float]:
        """{server name: load} of Scalelite's placement set."""
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id.get(i, i): load for i, load in self.placement().items()}

    def placement(self) -> dict[str, float]:
        raise NotImplementedError

    # --- rooms --------------------------------------------------------------------------------------
    def seed_meeting(
        self, name: str, meeting_id: str, participants: int, moderators: int, age_min: int = 60
    ) -> None:
        """A meeting already on a BBB server, older than Scalelite's young-room buffer (not created
        through Scalelite: only the poller sees it)."""
        created = datetime.now(UTC) - timedelta(minutes=age_min)
        self.world.create_meeting(meeting_id, created, participants, moderators, server=name)

    def create(self, meeting_id: str) -> str | None:
        """Scalelite's create: the BBB server the room landed on, or None (FAILED, e.g. no server)."""
        answer = self._call("create", {"meetingID": meeting_id, "name": meeting_id})
        if b"<returncode>SUCCESS</returncode>" not in answer.content:
            return None
        meeting = self.world.meetings.get(meeting_id)
        return meeting.server if meeting else None

    def join(self, meeting_id: str, moderator: bool = False) -> bool:
        """Scalelite's join, the redirect followed; False when Scalelite refused it."""
        params = {"meetingID": meeting_id, "fullName": "user", "role": "MODERATOR" if moderator else "VIEWER"}
        answer = self._call("join", params)
        if answer.status_code != 302:
            return False
        self.http.get(answer.headers["Location"], timeout=10)
        return True

    def end(self, meeting_id: str) -> None:
        """Scalelite's end of a room (the class is over)."""
        self._call("end", {"meetingID": meeting_id})

    def _call(self, call: str, params: dict[str, str]) -> requests.Response:
        query = signed_query(call, params, self.secret, "sha256")
        return self.http.get(f"{self.url}/{call}?{query}", allow_redirects=False, timeout=20)

    # --- the poller -----------------------------------------------------------------------------------
    def poll_round(self) -> None:
        raise NotImplementedError

    def during_round(self, action: Callable[[], object]) -> object:
        raise NotImplementedError

    def polls_held(self) -> AbstractContextManager:
        return nullcontext()

    def close(self) -> None:
        self.http.close()


class ModelBackend(Backend):
    """The simulator's Scalelite model, served over HTTP by LocalScalelite; its poller runs on demand."""

    kind = "model"

    def __init__(self, secret: str = "model-loadbalancer-secret-0123456789"):
        world = SimWorld()
        self.scalelite = LocalScalelite(world, secret).start()
        super().__init__(self.scalelite.url, secret, world)

    def server_url(self, name: str) -> str:
        return self.scalelite.server_url(name)

    def placement(self) -> dict[str, float]:
        return self.world.placement_set()

    def poll_round(self) -> None:
        self.world.poll(datetime.now(UTC))

    def during_round(self, action: Callable[[], object]) -> object:
        self.world.begin_round(datetime.now(UTC))
        try:
            return action()
        finally:
            self.world.finish_round()

    def close(self) -> None:
        super().close()
        self.scalelite.stop()


class RealBackend(Backend):
    """The real Scalelite (its Redis wiped and its connections to it dropped for each scenario:
    `RealScalelite.reset`) with the simulator's BBB servers behind it."""

    kind = "real"

    def __init__(self, scalelite: RealScalelite):
        scalelite.reset()
        world = SimWorld()
        self.scalelite = scalelite
        self.bbb = SimBbbServers(world, getmeetings_latency_s=GETMEETINGS_S)
        self.bbb.rounds_from = scalelite.is_poller  # Scalelite's API getMeetings is never held
        self.bbb.start()
        super().__init__(scalelite.url, scalelite.secret, world)

    def server_url(self, name: str) -> str:
        return self.bbb.url(name)

    def placement(self) -> dict[str, float]:
        return self.scalelite.placement()

    def _round_after(self, moment: float, timeout: float, every: bool = False) -> int:
        """Wait for a round whose first getMeetings was asked at or after `moment`; where the poller's log
        stood then (its saves come after: `_saved`). A round already under way (some of its servers
        asked before `moment`) is let finish first: counted as new, it would have read some servers
        before the scenario's last step."""
        deadline = time.monotonic() + timeout
        while self.bbb.in_flight() and time.monotonic() < deadline:
            time.sleep(0.005)
        moment = max(moment, time.monotonic())
        names = set(self.ids)
        while time.monotonic() < deadline:
            asked = self.bbb.asked_since(moment)
            if asked and (not every or names <= {name for name, _ in asked}):
                # the last round's saves were all logged before its 10-s sleep; this one's come after
                # its answers, 0.3 s each at least
                return self.scalelite.poller_log_size()
            time.sleep(0.005)
        raise TimeoutError("the real Scalelite's poller started no round")

    def _saved(self, log_mark: int, timeout: float) -> None:
        """Wait until the round has saved every registered server: the poller logs each save after
        `log_mark` (`RealScalelite.saved_since`). Waiting for the answers, then for the enabled servers
        to be back in `server_load`, then a 0.4-s margin, was not enough once: a save later than that
        left the last round's load of a server in `server_load` for the scenario to read."""
        deadline = time.monotonic() + timeout
        ids = set(self.ids.values())
        while time.monotonic() < deadline:
            if ids <= self.scalelite.saved_since(log_mark):
                return
            time.sleep(0.02)
        names = {v: k for k, v in self.ids.items()}
        unsaved = sorted(names[i] for i in ids - self.scalelite.saved_since(log_mark))
        raise TimeoutError(f"the real Scalelite's poll round did not save {unsaved}")

    def poll_round(self) -> None:
        timeout = self.scalelite.poll_interval_s + 30
        self._saved(self._round_after(time.monotonic(), timeout), timeout)

    def during_round(self, action: Callable[[], object]) -> object:
        timeout = self.scalelite.poll_interval_s + 30
        log_mark = None
        try:
            with self.bbb.answers_held(HOLD_S):  # the round asks, and answers once the action is done
                # every server asked: the round has read them all (a scenario acting after the first ask
                # alone saw, in one order of the scenarios, a round that read its server after the action)
                log_mark = self._round_after(time.monotonic(), timeout, every=True)
                return action()
        finally:
            if log_mark is not None:
                self._saved(log_mark, timeout)

    def polls_held(self) -> AbstractContextManager:
        return self.bbb.answers_held(HOLD_S)

    def close(self) -> None:
        super().close()
        self.bbb.stop()
