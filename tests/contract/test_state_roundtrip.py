"""Any record a store accepts comes back equal: enum, floats, None and tz-aware UTC times included."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.fleet import Server, ServerState
from chalicelib.ports import HistoryEntry, Reservation

_names = itertools.count(1)
times = st.datetimes(timezones=st.just(UTC))
maybe_time = st.none() | times
text = st.text(max_size=40)
maybe_text = st.none() | text
floats = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | floats | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
servers = st.builds(
    Server,
    name=st.just("unused"),
    provider=st.sampled_from(["owned", "gandi", "ikoula"]),
    state=st.sampled_from(list(ServerState)),
    since=times,
    capacity=floats,
    vm_id=maybe_text,
    url=maybe_text,
    scalelite_id=maybe_text,
    image=maybe_text,
    billed_since=maybe_time,
    created_at=maybe_time,
    meetings=st.integers(0, 10**6),
    load_units=floats,
    offline_ticks=st.integers(0, 100),
    reason=text,
    version=st.just(0),
)
reservations = st.builds(
    Reservation,
    id=st.just("unused"),
    starts_at=times,
    ends_at=times,
    expected_users=st.integers(0, 10**7),
    zone=maybe_text,
    note=maybe_text,
    source=text,
    body_hash=text,
    created_at=maybe_time,
)
entries = st.builds(
    HistoryEntry,
    at=times,
    kind=st.sampled_from(["tick", "action"]),
    summary=text,
    detail=st.dictionaries(text, json_values, max_size=4),
    actor=text,
)
examples = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@examples
@given(server=servers)
def test_server_round_trips(store, server):
    server = replace(server, name=f"bbbscale-x-{server.provider}-{next(_names)}")
    saved = store.servers.save(server)
    assert saved == replace(server, version=1)
    assert saved in store.servers.servers()


@examples
@given(reservation=reservations)
def test_reservation_round_trips(store, reservation):
    reservation = replace(reservation, id=f"r{next(_names)}")
    assert store.reservations.add(reservation) == (reservation, True)
    assert reservation in store.reservations.reservations()


@examples
@given(entry=entries)
def test_history_entry_round_trips(open_handle, entry):
    store = open_handle(f"h{next(_names)}")
    store.history.record(entry)
    assert store.history.recent() == [entry]


@examples
@given(value=json_values)
def test_setting_round_trips(store, value):
    store.settings.put("freeze", value)
    assert store.settings.get("freeze") == value
