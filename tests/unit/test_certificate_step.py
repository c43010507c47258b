"""The certificate step's decisions (domain/certificate.next_step, pure) as a table, the invariant that
orders never come closer than `retry_hours` (doubling after failures), and the step inside the capacity
check: a failing renewal is a `hold` of kind certificate while the scaling actions go on; a dry run
only says what is due."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chalicelib.adapters.certificates import MemoryCertificateStore
from chalicelib.adapters.state.memory import MemoryStateStore
from chalicelib.config import CertificateSettings
from chalicelib.domain.certificate import (
    CertificateVault,
    PendingOrder,
    Renewal,
    Step,
    next_order_at,
    next_step,
)
from chalicelib.domain.kinds import HoldKind
from chalicelib.service.certificates import CertificateKeeper
from tests.support.builders import T0
from tests.support.certs import FakeAuthority, self_signed
from tests.support.fake_dns import FakeDns

SETTINGS = CertificateSettings(domain="bbb.example.org", propagation_seconds=60)
CERT = self_signed("*.bbb.example.org", T0, days=90)  # valid until T0 + 90 d; renewal from T0 + 60 d


def pending(started=T0, txt=T0, answered=False):
    return PendingOrder("{}", "k", "_acme-challenge", ("v",), started, txt, answered)


@pytest.mark.parametrize(
    ("vault", "at", "step", "words"),
    [
        (CertificateVault(), T0, Step.ORDER, "no certificate for *.bbb.example.org yet: ordering"),
        (CertificateVault(certificate=CERT), T0 + timedelta(days=59), Step.NONE, "renewal from"),
        (CertificateVault(certificate=CERT), T0 + timedelta(days=61), Step.ORDER, "in 29.0 days"),
        (
            CertificateVault(certificate=self_signed("*.old.example.org", T0)),
            T0,
            Step.ORDER,
            "the fleet's domain is now *.bbb.example.org",
        ),
        (
            CertificateVault(renewal=Renewal(last_order_at=T0, failures=0)),
            T0 + timedelta(hours=5),
            Step.HOLD,
            "an order started at 2026-11-23 09:00 UTC: the next order not before 2026-11-23 15:00 UTC",
        ),
        (
            CertificateVault(renewal=Renewal(last_order_at=T0, failures=3, last_error="rateLimited")),
            T0 + timedelta(hours=23),
            Step.HOLD,
            "the last 3 order(s) failed (rateLimited): the next order not before 2026-11-24 09:00 UTC",
        ),
        (
            CertificateVault(renewal=Renewal(last_order_at=T0, failures=3)),
            T0 + timedelta(hours=24),
            Step.ORDER,
            "ordering",
        ),
        (
            CertificateVault(pending=pending()),
            T0 + timedelta(seconds=30),
            Step.WAIT,
            "after 60 s of propagation",
        ),
        (CertificateVault(pending=pending()), T0 + timedelta(seconds=60), Step.COMPLETE, "completing"),
        (CertificateVault(pending=pending(txt=None)), T0, Step.COMPLETE, "no TXT record yet"),
        (CertificateVault(pending=pending(answered=True)), T0 + timedelta(minutes=59), Step.COMPLETE, ""),
        (CertificateVault(pending=pending()), T0 + timedelta(minutes=61), Step.ABANDON, "given up"),
    ],
)
def test_next_step(vault, at, step, words):
    verdict = next_step(vault, SETTINGS, at)
    assert verdict.step is step and words in verdict.reason


def test_the_vault_survives_its_json_and_keeps_keys_out_of_reprs():
    vault = CertificateVault(CERT, None, pending(), Renewal(T0, 2, "x"))
    assert CertificateVault.from_json(vault.to_json()) == vault
    assert "PRIVATE" not in repr(vault) and "BEGIN" not in repr(vault)


@hsettings(max_examples=60, deadline=None)
@given(
    failures=st.integers(0, 12),
    hours=st.floats(0, 400, allow_nan=False),
    retry=st.floats(0.5, 24),
    days_left=st.floats(-10, 100, allow_nan=False),
)
def test_no_order_ever_comes_before_its_wait(failures, hours, retry, days_left):
    config = SETTINGS.model_copy(update={"retry_hours": retry, "max_retry_hours": max(retry, 48.0)})
    renewal = Renewal(last_order_at=T0, failures=failures)
    cert = self_signed("*.bbb.example.org", T0 + timedelta(days=days_left - 90))
    at = T0 + timedelta(hours=hours)
    verdict = next_step(CertificateVault(certificate=cert, renewal=renewal), config, at)
    earliest = next_order_at(renewal, config)
    assert earliest is not None and earliest - T0 <= timedelta(hours=config.max_retry_hours)
    if verdict.step is Step.ORDER:
        assert at >= earliest and at >= cert.not_after - timedelta(days=config.renew_before_days)
    if at < cert.not_after - timedelta(days=config.renew_before_days):
        assert verdict.step is Step.NONE


def test_a_failing_ca_is_asked_at_most_once_per_wait_over_three_days():
    store, state = MemoryCertificateStore(), MemoryStateStore(cluster="t")
    clock = [T0]
    authority = FakeAuthority(lambda: clock[0], fail_at="order")
    keeper = CertificateKeeper(SETTINGS, store, authority, FakeDns(state), state.history)
    holds = []
    for minute in range(3 * 24 * 60):
        clock[0] = T0 + timedelta(minutes=minute)
        outcome = keeper.maintain(clock[0])
        if outcome.hold:
            holds.append(clock[0])
    # after 1, 2, 3 failures in a row the waits are 6 h, 12 h, 24 h (then 48 h, capped): at 0, 6, 18, 42 h
    assert [(h - T0) / timedelta(hours=1) for h in holds] == [0, 6, 18, 42]
    assert authority.asked.count("order") == 4


def test_the_step_spans_ticks_and_records_each_decision():
    store, state = MemoryCertificateStore(), MemoryStateStore(cluster="t")
    dns = FakeDns(state)
    dns.zone = "example.org"
    authority = FakeAuthority(lambda: T0, slow=1)
    keeper = CertificateKeeper(SETTINGS, store, authority, dns, state.history)
    outcomes = [keeper.maintain(T0 + timedelta(seconds=s)) for s in (0, 30, 60, 120)]
    assert [o.step for o in outcomes] == [Step.ORDER, Step.WAIT, Step.COMPLETE, Step.COMPLETE]
    assert authority.asked == ["account", "order", "complete", "complete"]
    assert store.load().certificate is not None and store.load().pending is None
    assert dns.txt == {}  # set for the challenge, removed once issued
    kinds = [e.detail["certificate"]["step"] for e in reversed(state.history.recent(10, kind="certificate"))]
    assert kinds == ["order", "txt", "answer", "issued"]


def test_a_store_that_fails_is_a_hold_too():
    class Broken:
        def load(self):
            from chalicelib.ports import CertificateError

            raise CertificateError("certificate store /x: cannot read: Permission denied")

        save = load

    state = MemoryStateStore(cluster="t")
    keeper = CertificateKeeper(SETTINGS, Broken(), FakeAuthority(lambda: T0), FakeDns(state), state.history)
    outcome = keeper.maintain(T0)
    assert outcome.hold and "Permission denied" in outcome.hold


# --- inside the capacity check ------------------------------------------------------------------------
@pytest.fixture
def world():
    from tests.unit.test_tick_service import World

    return World(
        headroom={"percent": 0, "units": 600},  # 2 servers on no load: the tick has something to start
        certificates={"domain": "bbb.example.org", "store": "memory", "propagation_seconds": 0},
    )


def _wire(world, authority):
    from chalicelib.bootstrap import Wiring
    from chalicelib.service.forecasting import NoForecast
    from tests.support.fakes import FakeBbb

    dns = FakeDns(world.store)
    dns.zone = "example.org"
    world.rt = Wiring(
        world.settings,
        store=world.store,
        scalelite=world.scalelite,
        providers=world.providers,
        bbb_factory=lambda url, secret, name: FakeBbb(world.scalelite, url, world.healthy),
        clock=world.clock,
        secret=lambda name: None,
        forecaster=NoForecast(),
        dns=dns,
        certificate_authority=authority,
    )
    return dns


def test_a_failing_renewal_is_a_hold_and_the_tick_still_scales(world):
    _wire(world, FakeAuthority(world.clock, fail_at="order"))
    document = world.tick()
    assert [a["action"] for a in document["actions"]] == ["start", "hold"]  # scaling went on
    assert world.providers["cheap"].asked[-1][0] == "create"
    held = [a for a in world.last.actions if a.hold is HoldKind.CERTIFICATE]
    assert len(held) == 1 and "rateLimited" in held[0].action.reason
    assert "next order not before" in held[0].action.reason
    assert any(e.kind == "certificate" for e in world.store.history.recent(20))
    from chalicelib.service.digest import digest

    told = digest(world.last)  # the chat hears of it once, with the failures
    assert len(told.failures) == 1 and "rateLimited" in told.failures[0]
    world.tick()  # the next tick holds quietly (a note, no hold): nothing more for the chat
    assert not digest(world.last).failures


def test_an_acting_tick_issues_and_a_dry_run_only_says_what_is_due(world):
    authority = FakeAuthority(world.clock)
    _wire(world, authority)
    dry = world.tick(dry_run=True)
    assert any("certificate: no certificate for *.bbb.example.org yet: ordering" in n for n in dry["notes"])
    assert authority.asked == []
    document = world.tick()
    assert any("certificate *.bbb.example.org issued" in n for n in document["notes"])
    assert authority.asked == ["account", "order", "complete"]
    assert world.tick()["notes"] == [n for n in world.last.notes if not n.startswith("certificate")]
