"""The BBB and Scalelite clients over real HTTP against a loopback server that checks every checksum."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from chalicelib.adapters.scalelite.bbb import BbbApi
from chalicelib.adapters.scalelite.client import ScaleliteClient, admin_base
from chalicelib.adapters.scalelite.observe import observe_per_server
from chalicelib.config import ConfigError, ScaleliteSettings
from chalicelib.domain.load import Meeting
from chalicelib.ports import ApiError, ResponseError, ScaleliteServer, UnreachableError
from tests.support.bbb_xml import render_failed, render_get_meetings
from tests.support.fake_bbb import LoopbackFleet

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bbb"
DOCS_EXAMPLE = (FIXTURES / "get_meetings_docs_example.xml").read_text()
SECRET = "bbb-secret-0123456789"
FAST = dict(connect_timeout=1.0, read_timeout=2.0, backoff=0.01)


@pytest.fixture
def fleet():
    with LoopbackFleet() as running:
        yield running


def bbb(fleet, name="bbb1", secret=SECRET, **options) -> BbbApi:
    return BbbApi(f"{fleet.url}/{name}/bigbluebutton/api", secret, server_name=name, **{**FAST, **options})


def scalelite(fleet, secret=None, **options) -> ScaleliteClient:
    settings = ScaleliteSettings(
        url=f"{fleet.url}/bigbluebutton/api", connect_timeout=1.0, read_timeout=2.0, **options
    )
    return ScaleliteClient(settings, secret or fleet.scalelite_secret, backoff=0.01)


def no_secrets(text: str, fleet) -> None:
    assert SECRET not in text and fleet.scalelite_secret not in text
    assert "checksum=" not in text


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_meetings_of_one_server_with_each_checksum(fleet, algorithm):
    fleet.add_bbb("bbb1", SECRET, meetings_xml=DOCS_EXAMPLE)
    snapshot = bbb(fleet, algorithm=algorithm).meetings()
    assert snapshot.totals.participants == 1 and snapshot.meetings[0].server == "bbb1"


def test_a_wrong_secret_is_a_checksum_error_without_secrets(fleet):
    fleet.add_bbb("bbb1", "the-real-one", meetings_xml=DOCS_EXAMPLE)
    with pytest.raises(ApiError) as caught:
        bbb(fleet).meetings()
    assert caught.value.key == "checksumError"
    assert fleet.endpoints["bbb1"].hits == 1  # a FAILED answer is never retried
    no_secrets(str(caught.value), fleet)


def test_a_slow_server_times_out_after_the_retries(fleet):
    fleet.add_bbb("bbb1", SECRET, delay=1.5)
    started = time.monotonic()
    with pytest.raises(UnreachableError, match="read timeout") as caught:
        bbb(fleet, read_timeout=0.2, retries=1).meetings()
    assert time.monotonic() - started < 1.4
    assert fleet.endpoints["bbb1"].hits == 2
    no_secrets(str(caught.value), fleet)


def test_a_server_trickling_its_answer_hits_the_total_time_limit(fleet):
    fleet.add_bbb("bbb1", SECRET, meetings_xml=DOCS_EXAMPLE, drip=0.1)  # ~2 KB in 64-byte drops: ~3.5 s
    started = time.monotonic()
    with pytest.raises(UnreachableError, match="1.1 s time limit"):
        bbb(fleet, connect_timeout=0.2, read_timeout=0.3, retries=0).meetings()  # limit 0.2 + 3 x 0.3 s
    assert time.monotonic() - started < 2.0


def test_a_503_is_retried_then_the_answer_used(fleet):
    fleet.add_bbb("bbb1", SECRET, meetings_xml=DOCS_EXAMPLE, fail_first=1)
    assert bbb(fleet, retries=2).meetings().totals.meetings == 1
    assert fleet.endpoints["bbb1"].hits == 2


def test_retries_are_bounded(fleet):
    fleet.add_bbb("bbb1", SECRET, fail_first=10)
    with pytest.raises(UnreachableError, match="HTTP 503"):
        bbb(fleet, retries=2).meetings()
    assert fleet.endpoints["bbb1"].hits == 3


def test_a_connection_dropped_mid_body_is_retried_as_a_network_fault(fleet):
    fleet.add_bbb("bbb1", SECRET, meetings_xml=DOCS_EXAMPLE, cut_at=200)
    with pytest.raises(UnreachableError, match="after 2 attempt"):
        bbb(fleet, retries=1).meetings()
    assert fleet.endpoints["bbb1"].hits == 2


def test_a_4xx_is_not_retried(fleet):
    fleet.add_bbb("bbb1", SECRET, status=403)
    with pytest.raises(UnreachableError, match="HTTP 403"):
        bbb(fleet, retries=2).meetings()
    assert fleet.endpoints["bbb1"].hits == 1


def test_a_closed_port_is_unreachable_without_the_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = BbbApi(f"http://127.0.0.1:{port}/bigbluebutton/api", SECRET, retries=1, **FAST)
    with pytest.raises(UnreachableError, match="connection refused") as caught:
        api.meetings()
    assert SECRET not in str(caught.value) and "checksum" not in str(caught.value)
    assert not api.healthy()


def test_a_host_that_does_not_resolve_is_said_so_not_refused():
    # `.invalid` never resolves (RFC 6761): it was reported as "connection refused", sending the
    # operator to look for a closed port on a host that does not exist.
    api = BbbApi("https://bbb.nonexistent.invalid/bigbluebutton/api", SECRET, retries=0, **FAST)
    with pytest.raises(UnreachableError, match="host name not resolved") as caught:
        api.meetings()
    assert "refused" not in str(caught.value) and SECRET not in str(caught.value)


def test_credentials_in_a_url_stay_out_of_errors():
    api = BbbApi("http://admin:hunter2@127.0.0.1:9/bigbluebutton/api", SECRET, retries=0, **FAST)
    with pytest.raises(UnreachableError) as caught:
        api.meetings()
    assert "hunter2" not in str(caught.value) and str(caught.value).startswith("127.0.0.1:9: getMeetings")


def test_an_oversized_body_is_refused(fleet):
    big = render_get_meetings([Meeting(f"room-{i}", participants=30) for i in range(40)])
    fleet.add_bbb("bbb1", SECRET, meetings_xml=big)
    fleet.add_bbb("bbb2", SECRET, meetings_xml=big, no_length=True)  # no Content-Length: the stream is cut
    for name in ("bbb1", "bbb2"):
        with pytest.raises(ResponseError, match="limit"):
            bbb(fleet, name, max_bytes=len(big) // 4).meetings()
        assert bbb(fleet, name, max_bytes=len(big)).meetings().totals.participants == 1200


def test_gzip_is_counted_after_inflating(fleet):
    padded = DOCS_EXAMPLE.replace("</response>", " " * 2_000_000 + "</response>")  # 2 MB -> ~2 KB gzipped
    fleet.add_bbb("bbb1", SECRET, meetings_xml=DOCS_EXAMPLE, gzip=True)
    fleet.add_bbb("bomb", SECRET, meetings_xml=padded, gzip=True)
    assert bbb(fleet).meetings().totals.participants == 1
    with pytest.raises(ResponseError, match="limit"):
        bbb(fleet, "bomb", max_bytes=1_000_000).meetings()


def test_recordings_pending_asks_for_every_state_a_recording_not_yet_transferred_has(fleet):
    states = ["processing", "processed", "published", "unpublished", "deleted"]
    fleet.add_bbb("bbb1", SECRET, recordings=states)
    assert bbb(fleet).recordings_pending() == 4  # deleted: transferred to Scalelite, gone from here
    assert "state=processing%2Cprocessed%2Cpublished%2Cunpublished" in fleet.seen[-1].query


def test_version_and_health(fleet):
    fleet.add_bbb("bbb1", SECRET)
    assert bbb(fleet).version() == "2.7.3"
    assert bbb(fleet).healthy()
    assert not bbb(fleet, secret="wrong").healthy()  # the index answers, the signed call does not
    assert "checksum" not in fleet.seen[0].query  # the index probe carries no checksum


def test_repr_holds_no_secret(fleet):
    assert SECRET not in repr(bbb(fleet)) and fleet.scalelite_secret not in repr(scalelite(fleet))


# --- Scalelite admin API ----------------------------------------------------------------------------
def test_admin_base_follows_the_api_url():
    assert admin_base("https://lb.example.org/bigbluebutton/api/") == "https://lb.example.org/scalelite/api"
    with pytest.raises(ConfigError, match="bigbluebutton/api"):
        admin_base("https://lb.example.org/api")


def test_servers_as_scalelite_reports_them(fleet):
    fleet.add_bbb("bbb1", SECRET)
    fleet.add_bbb("bbb2", "other", state="cordoned", online=False)
    fleet.servers["bbb2"].update(load="unavailable", load_multiplier="2.5", tag="bbbscale")
    servers = {s.id: s for s in scalelite(fleet).servers()}
    assert servers["bbb1"].state == "enabled" and servers["bbb1"].online and servers["bbb1"].load == 0.0
    assert servers["bbb2"].load is None and servers["bbb2"].load_multiplier == 2.5
    assert servers["bbb2"].tag == "bbbscale" and not servers["bbb2"].online and servers["bbb1"].tag is None
    assert scalelite(fleet).server("bbb2").secret == "other"


def test_no_servers_configured_is_an_empty_list(fleet):
    assert scalelite(fleet).servers() == []


def test_add_enable_cordon_delete(fleet):
    client = scalelite(fleet)
    added = client.add("https://bbb9.example.org/bigbluebutton/api", "new-secret", 1.5, "bbbscale")
    assert (added.state, added.load_multiplier, added.tag) == ("disabled", 1.5, "bbbscale")
    post = fleet.seen[-1]
    assert post.content_type == "application/json" and post.query.startswith("checksum=")
    client.set_state(added.id, "enable")
    assert client.server(added.id).state == "enabled"
    client.set_state(added.id, "cordoned")
    assert fleet.servers[added.id]["state"] == "cordoned"
    client.delete(added.id)
    assert added.id not in fleet.servers
    client.delete(added.id)  # already gone: done


def test_unknown_state_and_unknown_server(fleet):
    client = scalelite(fleet)
    with pytest.raises(ValueError, match="enable, cordon, disable"):
        client.set_state("bbb1", "drain")
    with pytest.raises(ApiError) as caught:
        client.server("nope")
    assert caught.value.key == "notFound"


def test_panic_keeps_state_when_asked(fleet):
    fleet.add_bbb("bbb1", SECRET)
    scalelite(fleet).panic("bbb1", keep_state=True)
    assert fleet.servers["bbb1"]["state"] == "enabled"
    scalelite(fleet).panic("bbb1")
    assert fleet.servers["bbb1"]["state"] == "disabled"


def test_admin_checksum_error_comes_as_xml_with_http_200(fleet):
    fleet.add_bbb("bbb1", SECRET)
    with pytest.raises(ApiError) as caught:
        scalelite(fleet, secret="wrong-lb-secret").servers()
    assert caught.value.key == "checksumError"
    with pytest.raises(ApiError, match="checksumError"):
        scalelite(fleet, secret="wrong-lb-secret").add("https://x/bigbluebutton/api", "s", 1.0, None)


# --- observation with fallback (the tick's observe step over this client) ---------------------------
def observed(client):
    """What the tick's observe step reads through `client`: (snapshot or None, problems)."""
    from chalicelib.bootstrap import Wiring
    from chalicelib.service.observe import load_snapshot
    from tests.support.builders import settings

    problems: list[str] = []
    registered = {s.url: s for s in client.servers()}
    return load_snapshot(
        Wiring(settings(), scalelite=client, providers={}).ports(), registered, problems
    ), problems


def two_rooms(prefix: str) -> str:
    return render_get_meetings(
        [Meeting(f"{prefix}-a", participants=10, voice=2), Meeting(f"{prefix}-b", participants=5, video=1)]
    )


def test_scalelite_meetings_when_it_answers(fleet):
    fleet.scalelite.meetings_xml = two_rooms("lb")
    snapshot, problems = observed(scalelite(fleet))
    assert snapshot.totals.participants == 15 and snapshot.complete and problems == []


def test_internal_error_falls_back_to_each_server(fleet):
    fleet.scalelite.meetings_xml = render_failed("internalError", "Unable to access server.")
    fleet.add_bbb("bbb1", "s1", meetings_xml=two_rooms("one"))
    fleet.add_bbb("bbb2", "s2", meetings_xml=two_rooms("two"), state="cordoned")
    fleet.add_bbb("bbb3", "s3", meetings_xml=two_rooms("off"), online=False)
    fleet.add_bbb("bbb4", "s4", meetings_xml=two_rooms("dis"), state="disabled")
    snapshot, _ = observed(scalelite(fleet))
    assert snapshot.complete and snapshot.totals.meetings == 4
    assert {m.server for m in snapshot.meetings} == {"bbb1", "bbb2"}
    assert fleet.endpoints["bbb3"].hits == fleet.endpoints["bbb4"].hits == 0


def test_a_failing_server_makes_the_snapshot_incomplete(fleet):
    fleet.scalelite.meetings_xml = render_failed("internalError", "Unable to access server.")
    fleet.add_bbb("bbb1", "s1", meetings_xml=two_rooms("one"))
    fleet.add_bbb("bbb2", "wrong", meetings_xml=two_rooms("two"))
    fleet.servers["bbb2"]["secret"] = "secret-scalelite-has"  # so bbb2 answers checksumError
    fleet.add_bbb("bbb3", "s3", fail_first=99)
    snapshot, _ = observed(scalelite(fleet, retries=1))
    assert not snapshot.complete and snapshot.totals.meetings == 2
    assert sorted(p.split(":")[0] for p in snapshot.problems) == ["bbb2", "bbb3"]
    assert all("secret-scalelite-has" not in p and "s3" not in p.split(":", 1)[1] for p in snapshot.problems)


def test_other_failures_are_unknown_load_never_no_load(fleet):
    fleet.scalelite.meetings_xml = render_failed(
        "checksumError", "You did not pass the checksum security check"
    )
    snapshot, problems = observed(scalelite(fleet))
    assert snapshot is None, "a FAILED answer other than internalError is unknown load, never an empty one"
    assert problems == ["Scalelite getMeetings answered checksumError"]


def test_observe_per_server_runs_in_parallel(fleet):
    for i in range(12):
        fleet.add_bbb(f"bbb{i}", f"s{i}", meetings_xml=two_rooms(f"r{i}"), delay=0.2)
    started = time.monotonic()
    snapshot = observe_per_server(scalelite(fleet).servers(), concurrency=12, **FAST)
    assert snapshot.complete and snapshot.totals.meetings == 24
    assert time.monotonic() - started < 1.2  # 12 x 0.2 s one after another would be 2.4 s


def test_a_server_url_we_cannot_call_is_a_problem_not_a_crash(fleet):
    fleet.add_bbb("bbb1", "s1", meetings_xml=two_rooms("one"))
    servers = scalelite(fleet).servers()
    odd = ScaleliteServer(
        id="odd",
        url="ftp://odd.example.org/bigbluebutton/api",
        secret="x",
        state="enabled",
        online=True,
        load=None,
    )
    snapshot = observe_per_server([*servers, odd], **FAST)
    assert snapshot.totals.meetings == 2 and not snapshot.complete
    assert snapshot.problems == ("odd: BBB API URL must be http(s), got scheme 'ftp'",)


def test_a_redirect_names_where_it_points_without_its_checksum():
    # Scalelite behind a proxy that moved it (http -> https, /bigbluebutton -> /bbb): "answered HTTP 301"
    # alone left the operator guessing; the target, less its query and credentials, says what to configure.
    import http.server
    import threading

    class Moved(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(301)
            self.send_header(
                "Location", "https://op:pw@lb.example.org:8443/bbb/api/getMeetings?checksum=abc123"
            )
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Moved)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = BbbApi(f"http://127.0.0.1:{server.server_port}/bigbluebutton/api", SECRET, retries=0, **FAST)
        with pytest.raises(UnreachableError) as caught:
            api.meetings()
    finally:
        server.shutdown()
        server.server_close()
    said = str(caught.value)
    assert "HTTP 301 to https://lb.example.org:8443/bbb/api/getMeetings" in said, said
    assert "abc123" not in said and "pw" not in said and SECRET not in said
