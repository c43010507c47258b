"""The harness itself: the real Scalelite comes up, answers with its own shapes, and stops everything."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.real_scalelite.harness import CHECKOUT_VAR, RealScalelite, unavailable


def test_unavailable_names_the_variable_when_unset(monkeypatch):
    monkeypatch.delenv(CHECKOUT_VAR, raising=False)
    assert CHECKOUT_VAR in (unavailable() or "")


def test_unavailable_refuses_a_directory_that_is_not_scalelite(monkeypatch, tmp_path):
    monkeypatch.setenv(CHECKOUT_VAR, str(tmp_path))
    assert "not a Scalelite checkout" in (unavailable() or "")


def test_a_real_scalelite_starts_answers_and_stops_every_process():
    reason = unavailable()
    if reason:
        pytest.skip(f"real Scalelite: {reason}")
    scalelite = RealScalelite(os.environ[CHECKOUT_VAR], poll_interval_s=60)
    with scalelite:
        root = scalelite.root
        pids = [p.pid for p in scalelite._procs.values()]
        assert scalelite.redis("PING") == "PONG"
        assert scalelite.placement() == {}
        import requests

        assert b"<returncode>SUCCESS</returncode>" in requests.get(scalelite.url, timeout=5).content
    assert root is not None and not root.exists()
    for pid in pids:
        assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0
