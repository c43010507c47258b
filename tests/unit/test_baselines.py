"""Baseline policies: fill order owned -> priority -> cheapest, within limits."""

import pytest
from hypothesis import given, strategies as st

from chalicelib.config import ProviderSettings
from chalicelib.sim.baselines import fill, fill_order, reactive, static

SEED_FLEET = {
    "gandi": ProviderSettings(hourly_cost=0.45, max_servers=150, quota=150, priority=10),
    "ikoula": ProviderSettings(hourly_cost=0.38, max_servers=50, quota=50, priority=10),
    "owned": ProviderSettings(mode="static", min_servers=96, max_servers=96, quota=96, priority=0),
}


def test_fill_order_is_owned_then_cheapest():
    assert fill_order(SEED_FLEET) == ["owned", "ikoula", "gandi"]


@pytest.mark.parametrize(
    "units_now, expected",
    [
        (0, {"owned": 96, "ikoula": 0, "gandi": 0}),
        (14_400, {"owned": 96, "ikoula": 0, "gandi": 0}),  # 2 x 14,400 = 28,800 = 96 x 300
        (14_401, {"owned": 96, "ikoula": 1, "gandi": 0}),
        (24_000, {"owned": 96, "ikoula": 50, "gandi": 14}),  # 48,000 units = 160 servers
        (60_000, {"owned": 96, "ikoula": 50, "gandi": 150}),  # more than the quotas: everything
    ],
)
def test_reactive_keeps_twice_the_load(units_now, expected):
    assert reactive(units_now, SEED_FLEET) == expected


def test_static_is_sized_for_the_peak_and_reports_the_unmet():
    assert static(28_800 + 300 * 10, SEED_FLEET) == {"owned": 96, "ikoula": 10, "gandi": 0}
    assert static(30_000, SEED_FLEET, headroom_percent=20) == {"owned": 96, "ikoula": 24, "gandi": 0}
    assert fill(1e6, SEED_FLEET).unmet_units == pytest.approx(1e6 - 296 * 300)
    floored = {"cloud": ProviderSettings(hourly_cost=0.5, min_servers=2, max_servers=4, quota=4)}
    assert reactive(0, floored) == {"cloud": 2}
    with pytest.raises(ValueError, match=">= 0 load units"):
        fill(-1, SEED_FLEET)


@given(units=st.floats(0, 120_000))
def test_fill_carries_the_target_with_the_fewest_servers(units):
    result = fill(units, SEED_FLEET)
    capacity = sum(n * SEED_FLEET[p].capacity_units for p, n in result.servers.items())
    assert all(0 <= n <= SEED_FLEET[p].limit for p, n in result.servers.items())
    assert capacity + result.unmet_units >= units
    if result.unmet_units == 0 and result.servers["owned"] + result.servers["ikoula"] + result.servers["gandi"] > 96:
        assert capacity - units < 300  # one server fewer would not do
