"""Fixtures the end-to-end tests share."""

import pytest
from chalice.test import Client

import app as app_module


@pytest.fixture
def client():
    """Chalice's test client on app.py (real routing, signature checks and serialisation)."""
    with Client(app_module.app) as client:
        yield client
