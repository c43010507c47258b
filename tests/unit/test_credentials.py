"""Passwords written into URLs never leave bbbscale (issue 14): errors, tick problems, logs, reprs."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.adapters.scalelite.bbb import BbbApi
from chalicelib.adapters.scalelite.client import ScaleliteClient
from chalicelib.config import ScaleliteSettings
from chalicelib.credentials import CredentialFilter, mask_credentials
from chalicelib.ports import UnreachableError
from tests.unit.test_tick_service import World

URL = "http://admin:hunter2pw@lb.example.org/bigbluebutton/api"


def test_the_password_is_masked_and_the_user_kept():
    assert mask_credentials(f"calling {URL} failed") == (
        "calling http://admin:***@lb.example.org/bigbluebutton/api failed"
    )
    assert mask_credentials("http://lb.example.org:8080/a@b and mail@example.org") == (
        "http://lb.example.org:8080/a@b and mail@example.org"
    )


@given(
    user=st.text(st.characters(whitelist_categories=("Ll", "Nd")), max_size=8),
    password=st.text(
        st.characters(blacklist_characters="/@ \n\t\r", blacklist_categories=("Cs", "Zs", "Cc")), min_size=6
    ),
)
def test_no_password_survives_masking(user, password):
    text = f"x https://{user}:{password}@host.example/path y"
    assert f":{password}@" not in mask_credentials(text)


def test_tick_problems_carry_no_password():
    w = World()

    def leaky():
        raise UnreachableError(f"Scalelite at {URL} did not answer")

    w.scalelite.meetings = leaky
    result = w.tick()
    assert result["problems"] and all("hunter2pw" not in p for p in result["problems"])
    assert any("admin:***@" in p for p in result["problems"])
    assert all("hunter2pw" not in e.summary + str(e.detail) for e in w.store.history.recent(50))


def test_reprs_and_logs_carry_no_password(caplog):
    client = ScaleliteClient(ScaleliteSettings(url=URL), "lb-secret")
    assert "hunter2pw" not in repr(client)
    assert "hunter2pw" not in repr(BbbApi(URL, "secret"))
    log = logging.getLogger("bbbscale.test")
    caplog.handler.addFilter(CredentialFilter())
    log.warning("cannot reach %s", URL)
    assert "hunter2pw" not in caplog.text and "admin:***@" in caplog.text
