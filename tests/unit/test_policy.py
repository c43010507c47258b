import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.policy import allocate, fill_order, with_headroom
from tests.support.builders import settings

P = settings().providers


@pytest.mark.parametrize(
    "units, expected, unmet",
    [
        (0, {"owned": 4, "cheap": 0, "dear": 0}, 0),
        (1200, {"owned": 4, "cheap": 0, "dear": 0}, 0),  # owned pool covers it
        (1201, {"owned": 4, "cheap": 1, "dear": 0}, 0),  # then the cheapest hourly provider
        (1200 + 3000, {"owned": 4, "cheap": 10, "dear": 0}, 0),
        (1200 + 3300, {"owned": 4, "cheap": 10, "dear": 1}, 0),  # cheap at quota: the dearer one takes over
        (1200 + 9000 + 600, {"owned": 4, "cheap": 10, "dear": 20}, 2),
    ],
)
def test_fills_owned_then_cheapest_within_quotas(units, expected, unmet):
    a = allocate(units, P)
    assert a.servers == expected
    assert a.unmet_servers == unmet
    if unmet:
        assert "quotas cannot supply" in a.reasons[-1]


def test_floor_and_backoff_cap_explain_themselves():
    a = allocate(1500, P, floors={"dear": 3}, caps={"cheap": 0})
    assert a.servers == {"owned": 4, "cheap": 0, "dear": 3}
    assert any("floor" in r for r in a.reasons) and any("backing off" in r for r in a.reasons)


def test_headroom_is_the_larger_of_percent_and_units():
    h = settings(headroom={"percent": 20, "units": 300}).headroom
    assert with_headroom(1000, h) == 1300
    assert with_headroom(10000, h) == 12000
    assert with_headroom(0, h) == 300


def test_fill_order_is_priority_then_cost():
    assert fill_order(P) == ["owned", "cheap", "dear"]


@given(st.floats(0, 20000, allow_nan=False))
def test_desired_never_below_need_within_quotas(units):
    a = allocate(units, P)
    capacity = sum(n * P[p].capacity_units for p, n in a.servers.items())
    assert capacity + a.unmet_units >= units - 1e-6
    assert all(a.servers[p] <= P[p].limit for p in P)
    if a.unmet_servers == 0:
        assert capacity >= units - 1e-6
    # and never more than one server of slack on the last provider that took demand
    assert capacity - units < 300 + 1200 or units < 1200
