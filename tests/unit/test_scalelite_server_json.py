"""Scalelite's server JSON (getServers, getServerInfo, addServer) into ScaleliteServer records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.adapters.scalelite.client import server_from_json
from chalicelib.ports import ResponseError

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "bbb" / "get_servers.json"


def test_the_fixture_as_scalelite_writes_it():
    first, second = (server_from_json(doc) for doc in json.loads(FIXTURE.read_text()))
    assert (first.id, first.state, first.online, first.load, first.load_multiplier, first.tag) == (
        "bbb1",
        "enabled",
        True,
        42.0,
        1.0,
        None,
    )
    assert (second.state, second.online, second.load, second.load_multiplier, second.tag) == (
        "cordoned",
        False,
        None,
        2.5,
        "bbbscale",
    )
    assert "s3cr3t" not in repr(first)


@pytest.mark.parametrize(
    "change,match",
    [
        ({"state": "paused"}, "unknown state"),
        ({"online": "maybe"}, "unknown online"),
        ({"load": "lots"}, "load is not a number"),
        ({"load_multiplier": "NaN"}, "load_multiplier"),
        ({"load_multiplier": True}, "load_multiplier"),
    ],
)
def test_odd_values_are_one_clear_error(change, match):
    doc = {**json.loads(FIXTURE.read_text())[0], **change}
    with pytest.raises(ResponseError, match=match) as caught:
        server_from_json(doc)
    assert "s3cr3t" not in str(caught.value)


def test_missing_fields_are_named():
    with pytest.raises(ResponseError, match="secret, state"):
        server_from_json({"id": "x", "url": "https://x/bigbluebutton/api", "online": "online"})
