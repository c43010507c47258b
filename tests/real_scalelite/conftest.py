"""Fixtures: the real Scalelite (once per session, when BBBSCALE_SCALELITE_CHECKOUT names a checkout)
and `backend`, each scenario's Scalelite: the simulator's model always, the real one when it can run."""

from __future__ import annotations

import os

import pytest

from tests.real_scalelite.backends import Backend, ModelBackend, RealBackend
from tests.real_scalelite.harness import CHECKOUT_VAR, RealScalelite, unavailable

POLL_INTERVAL_S = 3.0  # the real poller's sleep between rounds: a scenario acts in that quiet time


@pytest.fixture(scope="session")
def real_scalelite():
    """The real Scalelite, started once (about 5 s); skipped with the reason when it cannot run."""
    reason = unavailable()
    if reason:
        pytest.skip(f"real Scalelite: {reason}")
    with RealScalelite(os.environ[CHECKOUT_VAR], poll_interval_s=POLL_INTERVAL_S) as scalelite:
        yield scalelite


@pytest.fixture(params=["model", "real"])
def backend(request):
    """One scenario's Scalelite, with nothing registered."""
    chosen: Backend
    if request.param == "model":
        chosen = ModelBackend()
    else:
        chosen = RealBackend(request.getfixturevalue("real_scalelite"))
    yield chosen
    chosen.close()
