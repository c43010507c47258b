"""Closure-webhook rules without HTTP: the signature, the canonical body hash, the idempotent store."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.ports import ConflictError
from chalicelib.service import closures
from tests.support.chat_fakes import entries, store_with

SECRET = "s3cret"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()))


@given(st.binary(max_size=300), st.integers(-300, 300))
def test_our_own_signature_verifies_within_the_window(body, skew):
    stamp = str(int(NOW.timestamp()) + skew)
    signature = closures.sign(SECRET, stamp, "POST", "/hooks/closure", body)
    closures.verify_signature(SECRET, stamp, signature, ("POST", "/hooks/closure", body), NOW)


@given(st.binary(min_size=1, max_size=300), st.data())
def test_any_changed_byte_of_the_body_is_refused(body, data):
    signature = closures.sign(SECRET, STAMP, "POST", "/hooks/closure", body)
    index = data.draw(st.integers(0, len(body) - 1))
    changed = body[:index] + bytes([(body[index] + data.draw(st.integers(1, 255))) % 256]) + body[index + 1 :]
    with pytest.raises(closures.SignatureError, match="mismatch"):
        closures.verify_signature(SECRET, STAMP, signature, ("POST", "/hooks/closure", changed), NOW)


@pytest.mark.parametrize(
    "method, path",
    [("DELETE", "/hooks/closure"), ("POST", "/hooks/closure/other"), ("DELETE", "/hooks/closure/other")],
)
def test_a_signature_for_one_method_and_path_is_refused_on_another(method, path):
    """Issue 23: a captured signed POST or cancel replayed to another route, method or id is refused."""
    for body in (b"", b"{}"):
        signature = closures.sign(SECRET, STAMP, "DELETE", "/hooks/closure/mine", body)
        with pytest.raises(closures.SignatureError, match="mismatch"):
            closures.verify_signature(SECRET, STAMP, signature, (method, path, body), NOW)
    signature = closures.sign(SECRET, STAMP, "POST", "/hooks/closure", b"{}")
    with pytest.raises(closures.SignatureError, match="mismatch"):
        closures.verify_signature(SECRET, STAMP, signature, ("DELETE", "/hooks/closure/mine", b""), NOW)


@pytest.mark.parametrize("skew", [301, -301, 10**6])
def test_signatures_outside_the_window_are_stale(skew):
    stamp = str(int(NOW.timestamp()) + skew)
    with pytest.raises(closures.SignatureError, match="stale"):
        signature = closures.sign(SECRET, stamp, "POST", "/hooks/closure", b"{}")
        closures.verify_signature(SECRET, stamp, signature, ("POST", "/hooks/closure", b"{}"), NOW)


def test_error_messages_never_contain_the_secret():
    for timestamp, signature in [
        (None, None),
        ("x", "y"),
        (STAMP, "sha256=00"),
        ("1", closures.sign(SECRET, "1", "DELETE", "/hooks/closure/x", b"")),
    ]:
        with pytest.raises(closures.SignatureError) as caught:
            closures.verify_signature(SECRET, timestamp, signature, ("DELETE", "/hooks/closure/x", b""), NOW)
        assert SECRET not in str(caught.value)


@given(
    st.dictionaries(
        st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8), st.none()), max_size=8
    ),
    st.randoms(),
)
def test_the_body_hash_ignores_key_order_and_spacing(document, rng: random.Random):
    items = list(document.items())
    rng.shuffle(items)
    reordered = json.loads(json.dumps(dict(items), indent=rng.choice([None, 2])))
    assert closures.body_hash(reordered) == closures.body_hash(document)


def announcement(**change) -> bytes:
    document = {
        "id": "c-1",
        "starts_at": "2026-11-24T08:00:00+01:00",
        "ends_at": "2026-11-24T18:00:00+01:00",
        "expected_users": 500,
        **change,
    }
    return json.dumps(document).encode()


def test_accept_is_idempotent_and_refuses_another_body_under_the_same_id():
    store = store_with()
    first = closures.accept(store, announcement(), NOW, "Europe/Paris")
    assert first.created and first.reservation.source == "webhook" and first.reservation.created_at == NOW
    again = closures.accept(store, announcement(), NOW + timedelta(minutes=5), "Europe/Paris")
    assert not again.created and again.reservation == first.reservation
    with pytest.raises(ConflictError):
        closures.accept(store, announcement(expected_users=501), NOW, "Europe/Paris")
    assert store.reservations.reservations() == [first.reservation]
    assert len(entries(store)) == 1


def test_a_span_over_a_year_is_refused():
    with pytest.raises(closures.InvalidRequest, match="^ends_at: "):
        closures.parse_announcement(announcement(ends_at="2028-01-01T00:00:00+00:00"), NOW, "Europe/Paris")
