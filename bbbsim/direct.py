"""The Scalelite and BbbServer ports over the simulated world, in process (no HTTP).

The fast simulator replays a week in seconds through these; they keep the HTTP surfaces' semantics:
Scalelite's getMeetings fails as a whole (ApiError internalError) when any server it asks fails, its
meetings carry no server; a BBB server that does not answer, or answers 500, raises UnreachableError,
and a wrong secret is an ApiError checksumError, as over HTTP.
"""

from __future__ import annotations

from bbbsim.scalelite_model import STATES, RegisteredServer
from bbbsim.world import BbbNode, NodeUnavailable, SimWorld
from chalicelib.domain.load import LoadSnapshot
from chalicelib.ports import ApiError, ScaleliteServer, UnreachableError

_STATE_WORDS = {**{v: k for k, v in STATES.items()}, **{k: k for k in STATES}}  # enabled|enable -> enable


def _port_server(entry: RegisteredServer) -> ScaleliteServer:
    return ScaleliteServer(
        id=entry.id,
        url=entry.url,
        secret=entry.secret,
        state=entry.state,
        online=entry.online,
        load=entry.load,
        load_multiplier=entry.load_multiplier,
        tag=entry.tag,
    )


def _pay(world: SimWorld, call: str, per_server: bool = False) -> None:
    """A look's cost in time and failures (bbbsim/look_cost.py), when the replay set one."""
    cost = getattr(world, "look_cost", None)
    if cost is not None:
        cost.pay(call, per_server)


class DirectScalelite:
    """Scalelite port: getMeetings and the server admin API, straight on the world."""

    def __init__(self, world: SimWorld):
        self.world = world
        self._listed: dict[str, tuple[tuple, ScaleliteServer]] = {}  # getServers' records, by server id

    def meetings(self) -> LoadSnapshot:
        """All meetings Scalelite's getMeetings would list; ApiError when it would answer FAILED."""
        _pay(self.world, "getMeetings")
        return LoadSnapshot(meetings=tuple(self.world.scalelite_load()))

    def servers(self) -> list[ScaleliteServer]:
        _pay(self.world, "getServers")
        with self.world.lock:  # the port's records are copies already: no need to copy the entries first
            entries = list(self.world.registry.values())
            listed, out = {}, []
            for entry in entries:
                # A port record is frozen and a function of the entry's fields only, so the one of the
                # last call is handed out again while they are all the same (a replay asks every minute,
                # the burst guard every second or two): the key is every field `_port_server` copies.
                key = (
                    entry.id,
                    entry.url,
                    entry.secret,
                    entry.state,
                    entry.online,
                    entry.load,
                    entry.load_multiplier,
                    entry.tag,
                )
                known = self._listed.get(entry.id)
                record = known[1] if known is not None and known[0] == key else _port_server(entry)
                listed[entry.id] = (key, record)
                out.append(record)
            self._listed = listed  # deleted entries are forgotten
            return out

    def add(
        self, url: str, secret: str, load_multiplier: float = 1.0, tag: str | None = None
    ) -> ScaleliteServer:
        """addServer: the new entry is disabled (and offline until the next poll)."""
        try:
            return _port_server(self.world.add_server(url, secret, load_multiplier, tag))
        except ValueError as error:
            raise ApiError("badRequest", str(error)) from None

    def set_state(self, server_id: str, state: str) -> None:
        """updateServer state: enabled|cordoned|disabled (or Scalelite's words enable|cordon|disable)."""
        word = _STATE_WORDS.get(state)
        if word is None:
            raise ApiError("badRequest", f"Invalid state parameter: {state}")
        _pay(self.world, "updateServer")
        try:
            self.world.update_server(server_id, state=word)
        except KeyError:
            raise ApiError("notFound", f"Couldn't find server with id={server_id}") from None

    def delete(self, server_id: str) -> None:
        """deleteServer: like Scalelite, does not look for meetings. An id it no longer knows counts as
        deleted, as with the HTTP client (a retried delete finds it gone)."""
        try:
            self.world.delete_server(server_id)
        except KeyError:
            pass


class DirectBbb:
    """BbbServer port for one simulated BBB server. `secret` (optional) is the one the caller knows:
    a wrong one fails like a checksum error."""

    def __init__(self, world: SimWorld, server_name: str, secret: str | None = None):
        self.world = world
        self.server_name = server_name
        self._secret = secret

    def __repr__(self) -> str:
        return f"DirectBbb({self.server_name!r})"

    def _checked(self) -> BbbNode:
        """The server's live record (read under the world's lock, not copied: callers only read it)."""
        node = self.world.nodes.get(self.server_name)
        if node is None or not node.reachable:
            raise UnreachableError(f"BBB server {self.server_name} is not answering")
        if node.api_error:
            raise UnreachableError(f"BBB server {self.server_name} answered HTTP 500")
        if self._secret is not None and self._secret != node.secret:
            raise ApiError("checksumError", "You did not pass the checksum security check")
        return node

    def healthy(self) -> bool:
        """The API answers and a checksummed getMeetings works."""
        try:
            with self.world.lock:
                self._checked()
            return True
        except (UnreachableError, ApiError):
            return False

    def meetings(self) -> LoadSnapshot:
        _pay(self.world, f"getMeetings of {self.server_name}", per_server=True)
        with self.world.lock:
            self._checked()
            try:
                found = self.world.node_load(self.server_name)
            except NodeUnavailable as error:
                raise UnreachableError(str(error)) from None
        return LoadSnapshot(meetings=tuple(found))

    def recordings_pending(self) -> int:
        """Recordings still processing on this server (they stop it from being switched off)."""
        with self.world.lock:
            return self._checked().recordings_pending
