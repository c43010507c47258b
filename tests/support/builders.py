"""Small builders of domain objects for tests (settings, servers, observations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.config import Settings
from chalicelib.domain.decision import Observation
from chalicelib.domain.fleet import Fleet, Server, ServerState
from chalicelib.domain.load import LoadSnapshot, Meeting
from chalicelib.ports import ScaleliteServer

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def settings(**changes) -> Settings:
    """A small fleet: owned 4 (static), cheap 10, dear 20; no headroom unless asked."""
    document = {
        "cluster": "t",
        "headroom": {"percent": 0, "units": 0},
        "lifecycle": {"stabilization_minutes": 10},
        "providers": {
            "owned": {
                "kind": "simulated",
                "mode": "static",
                "min_servers": 4,
                "max_servers": 4,
                "quota": 4,
                "priority": 0,
                "capacity_units": 300,
            },
            "cheap": {
                "kind": "simulated",
                "hourly_cost": 0.3,
                "max_servers": 10,
                "quota": 10,
                "priority": 10,
                "capacity_units": 300,
                "max_surge": 5,
                "boot_minutes": 5,
            },
            "dear": {
                "kind": "simulated",
                "hourly_cost": 0.5,
                "max_servers": 20,
                "quota": 20,
                "priority": 10,
                "capacity_units": 300,
                "max_surge": 5,
                "boot_minutes": 5,
            },
        },
    }
    for key, value in changes.items():
        document[key] = value
    return Settings.model_validate(document)


def server(
    name: str,
    provider: str = "cheap",
    state: ServerState = ServerState.SERVING,
    *,
    since=None,
    meetings: int = 0,
    billed_minutes_ago: float = 30,
    url: str | None = None,
    scalelite_id: str | None = "auto",
    image: str = "bbb-3.0-prepared",
    **extra,
) -> Server:
    since = since or T0 - timedelta(minutes=30)
    if scalelite_id == "auto":
        scalelite_id = (
            f"sl-{name}"
            if state in (ServerState.SERVING, ServerState.DRAINING, ServerState.REGISTERED)
            else None
        )
    return Server(
        name=name,
        provider=provider,
        state=state,
        since=since,
        capacity=300.0,
        vm_id=f"vm-{name}",
        url=url or f"http://{name}/bigbluebutton/api",
        scalelite_id=scalelite_id,
        image=image,
        billed_since=T0 - timedelta(minutes=billed_minutes_ago),
        created_at=T0 - timedelta(minutes=billed_minutes_ago),
        meetings=meetings,
        **extra,
    )


def owned(n: int = 4) -> list[Server]:
    return [server(f"own-{i}", "owned", scalelite_id=None) for i in range(n)]


def load_of(units_target: float, now: datetime = T0) -> LoadSnapshot:
    """A snapshot of old rooms worth about `units_target` units with default weights (38 units a room)."""
    rooms = int(units_target // 38)
    return LoadSnapshot(
        tuple(
            Meeting(
                f"m{i}",
                participants=25,
                voice=5,
                listen_only=20,
                video=1,
                create_time_ms=int((now.timestamp() - 3600) * 1000),
            )
            for i in range(rooms)
        )
    )


def registered_for(
    servers: list[Server], *, load: float = 0.0, online: bool = True
) -> dict[str, ScaleliteServer]:
    out = {}
    for s in servers:
        if s.scalelite_id:
            state = {ServerState.SERVING: "enabled", ServerState.DRAINING: "cordoned"}.get(
                s.state, "disabled"
            )
            out[s.url] = ScaleliteServer(
                id=s.scalelite_id,
                url=s.url,
                secret="x",
                state=state,
                online=online,
                load=load if s.state != ServerState.DRAINING else s.meetings,
                tag="bbbscale",
            )
    return out


def observation(
    servers: list[Server],
    snapshot: LoadSnapshot | None,
    now: datetime = T0,
    *,
    scalelite="auto",
    recent=None,
    **extra,
) -> Observation:
    if scalelite == "auto":
        scalelite = registered_for(servers)
    return Observation(
        now=now,
        fleet=Fleet(tuple(servers)),
        snapshot=snapshot,
        scalelite=scalelite,
        recent_desired=tuple(recent or ()),
        **extra,
    )


def steady(desired: dict[str, int], now: datetime = T0, minutes: int = 12):
    """A stabilization history in which `desired` held for `minutes`."""
    return [(now - timedelta(minutes=m), desired) for m in range(minutes, 0, -1)]
