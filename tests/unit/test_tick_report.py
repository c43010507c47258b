"""The `tick --json` report's server rows: what each server shows, in which order, and its `since` printed
exactly as the datetime itself prints (the report remembers printed datetimes between ticks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.config_file import load_settings
from chalicelib.domain.decision import Decision, Observation
from chalicelib.domain.fleet import Fleet, Server, ServerState
from chalicelib.domain.policy import Allocation
from chalicelib.render import tick_json
from chalicelib.service.tick import report

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def rows(*servers: Server) -> list[dict]:
    fleet = Fleet(servers)
    decision = Decision(Allocation({}, 0.0), None, ())
    typed = report(T0, False, Observation(T0, fleet, None, None), decision, (), fleet, load_settings())
    return tick_json(typed)["servers"]


def server(
    name: str, since: datetime, state: ServerState = ServerState.SERVING, provider: str = "gandi"
) -> Server:
    return Server(name, provider, state, since, 300.0, meetings=3, reason=f"{name} is {state.value}")


def test_rows_list_live_servers_by_provider_then_name_with_their_state_word():
    shown = rows(
        server("b", T0, provider="ikoula"),
        server("c", T0),
        server("gone", T0, ServerState.DESTROYED),
        server("a", T0, ServerState.DRAINING),
    )
    assert [(r["provider"], r["name"], r["state"]) for r in shown] == [
        ("gandi", "a", "draining"),
        ("gandi", "c", "serving"),
        ("ikoula", "b", "serving"),
    ]
    assert (
        type(shown[0]["state"]) is str and shown[0]["meetings"] == 3 and shown[0]["reason"] == "a is draining"
    )


def test_since_follows_each_tick_and_each_zone_as_the_datetime_prints_itself():
    assert rows(server("a", T0))[0]["since"] == "2026-11-23T08:00:00+00:00"
    assert rows(server("a", T0 + timedelta(minutes=1)))[0]["since"] == "2026-11-23T08:01:00+00:00"
    # Equal datetimes that print differently: the same instant in another zone ...
    assert rows(server("a", T0.astimezone(PARIS)))[0]["since"] == "2026-11-23T09:00:00+01:00"
    # ... and the hour Paris lives twice when summer time ends (fold 0: +02:00, fold 1: +01:00).
    twice = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)
    assert rows(server("a", twice))[0]["since"] == "2026-10-25T02:30:00+02:00"
    assert rows(server("a", twice.replace(fold=1)))[0]["since"] == "2026-10-25T02:30:00+01:00"
