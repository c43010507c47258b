"""The local Scalelite over real HTTP: BBB API, admin API and per-server BBB APIs, parsed with lxml.

Shapes checked against Scalelite v1.8 (servers_controller.rb, bigbluebutton_api_controller.rb,
api_helper.rb) and BBB's get-meetings.ftlx.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
import requests
from lxml import etree

from bbbsim.scalelite_http import LocalScalelite
from bbbsim.world import SimWorld
from chalicelib.adapters.scalelite.checksum import checksum, signed_query

LB_SECRET = "lb-secret-0123456789"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
OLD = T0 - timedelta(hours=1)


@pytest.fixture()
def world() -> SimWorld:
    world = SimWorld(random.Random(7))
    for i in range(2):
        world.add_bbb_server(f"s{i}", f"bbb-secret-{i}", 300, OLD)
    return world


@pytest.fixture()
def scalelite(world):
    with LocalScalelite(world, LB_SECRET, clock=lambda: T0) as server:
        for i in range(2):
            world.add_server(server.server_url(f"s{i}"), f"bbb-secret-{i}", state="enabled", online=True)
        yield server


def xml(response: requests.Response) -> etree._Element:
    assert response.status_code == 200
    return etree.fromstring(response.content)


def call(base: str, name: str, secret: str, params: dict | None = None, algorithm: str = "sha256"):
    return requests.get(
        f"{base}/{name}?{signed_query(name, params, secret, algorithm)}", timeout=5, allow_redirects=False
    )


def admin(scalelite, action: str, body: dict | None = None, query: str = ""):
    digest = checksum(action, query, LB_SECRET)
    url = f"{scalelite.admin_url}/{action}?{query + '&' if query else ''}checksum={digest}"
    if body is None:
        return requests.get(url, timeout=5)
    return requests.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=5)


def test_api_root_answers_without_checksum(scalelite):
    root = xml(requests.get(scalelite.url, timeout=5))
    assert root.findtext("returncode") == "SUCCESS" and root.findtext("version") == "2.0"


def test_get_meetings_lists_every_server_with_the_real_fields(world, scalelite):
    world.create_meeting(
        "maths & <physics>",
        OLD,
        participants=12,
        moderators=1,
        voice=4,
        video=2,
        listen_only=6,
        server="s0",
        metadata={"bbb-origin": "Moodle"},
    )
    world.create_meeting("history", OLD, participants=3, server="s1")
    world.create_meeting("maths-b1", OLD, participants=2, is_breakout=True, parent_id="maths & <physics>")
    root = xml(call(scalelite.url, "getMeetings", LB_SECRET))
    assert root.findtext("returncode") == "SUCCESS"
    meetings = {m.findtext("meetingID"): m for m in root.iterfind("meetings/meeting")}
    assert set(meetings) == {"maths & <physics>", "history", "maths-b1"}
    maths = meetings["maths & <physics>"]
    for field, value in {
        "participantCount": "12",
        "moderatorCount": "1",
        "voiceParticipantCount": "4",
        "videoCount": "2",
        "listenerCount": "6",
        "running": "true",
        "isBreakout": "false",
        "createTime": str(int(OLD.timestamp() * 1000)),
    }.items():
        assert maths.findtext(field) == value, field
    for field in (
        "meetingName",
        "internalMeetingID",
        "createDate",
        "voiceBridge",
        "dialNumber",
        "attendeePW",
        "moderatorPW",
        "duration",
        "hasUserJoined",
        "recording",
        "hasBeenForciblyEnded",
        "startTime",
        "endTime",
        "maxUsers",
    ):
        assert maths.find(field) is not None, field
    attendees = maths.findall("attendees/attendee")
    assert len(attendees) == 12
    assert [a.findtext("role") for a in attendees].count("MODERATOR") == 1
    assert sum(a.findtext("hasJoinedVoice") == "true" for a in attendees) == 4
    assert sum(a.findtext("isListeningOnly") == "true" for a in attendees) == 6
    assert sum(a.findtext("hasVideo") == "true" for a in attendees) == 2
    assert {a.findtext("clientType") for a in attendees} == {"HTML5"}
    assert maths.findtext("metadata/bbb-origin") == "Moodle"
    breakout = meetings["maths-b1"]
    assert breakout.findtext("isBreakout") == "true"
    assert breakout.findtext("parentMeetingID") == "maths & <physics>"
    assert breakout.findtext("sequence") == "1" and breakout.findtext("freeJoin") == "false"
    assert maths.findtext("breakoutRooms/breakout") == breakout.findtext("internalMeetingID")


def test_no_meetings_is_success_with_scalelite_order_and_bbb_order(scalelite):
    root = xml(call(scalelite.url, "getMeetings", LB_SECRET))
    assert [c.tag for c in root] == ["returncode", "messageKey", "message", "meetings"]
    assert root.findtext("messageKey") == "noMeetings" and len(root.find("meetings")) == 0
    own = xml(call(scalelite.server_url("s0"), "getMeetings", "bbb-secret-0"))
    assert [c.tag for c in own] == ["returncode", "meetings", "messageKey", "message"]


def test_one_failing_server_fails_the_whole_get_meetings(world, scalelite):
    world.create_meeting("m", OLD, participants=3, server="s0")
    world.set_fault("s1", api_error=True)
    root = xml(call(scalelite.url, "getMeetings", LB_SECRET))
    assert (root.findtext("returncode"), root.findtext("messageKey")) == ("FAILED", "internalError")
    world.set_fault("s1", api_error=False, offline=True)
    assert xml(call(scalelite.url, "getMeetings", LB_SECRET)).findtext("messageKey") == "internalError"
    world.poll(T0)
    world.poll(T0 + timedelta(minutes=1))  # two failed polls: offline, skipped by getMeetings
    assert xml(call(scalelite.url, "getMeetings", LB_SECRET)).findtext("returncode") == "SUCCESS"


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_scalelite_accepts_sha1_sha256_sha512(scalelite, algorithm):
    assert (
        xml(call(scalelite.url, "getMeetings", LB_SECRET, algorithm=algorithm)).findtext("returncode")
        == "SUCCESS"
    )


def test_checksum_errors_are_xml_failed_with_http_200(scalelite):
    sha384 = hashlib.sha384(("getMeetings" + LB_SECRET).encode()).hexdigest()
    upper = checksum("getMeetings", "", LB_SECRET).upper()
    for given in ("0" * 64, sha384, upper, ""):
        root = xml(requests.get(f"{scalelite.url}/getMeetings?checksum={given}", timeout=5))
        assert (root.findtext("returncode"), root.findtext("messageKey")) == ("FAILED", "checksumError"), (
            given
        )
    wrong = requests.get(f"{scalelite.admin_url}/getServers?checksum={'0' * 64}", timeout=5)
    assert (
        wrong.status_code == 200 and etree.fromstring(wrong.content).findtext("messageKey") == "checksumError"
    )
    with_body = requests.post(
        f"{scalelite.admin_url}/addServer?checksum={checksum('getServers', '', LB_SECRET)}",
        json={"server": {"url": "x", "secret": "y"}},
        timeout=5,
    )
    assert etree.fromstring(with_body.content).findtext("messageKey") == "checksumError"


def test_admin_round_trip_add_enable_cordon_delete(world, scalelite):
    world.add_bbb_server("n1", "new-secret", 300, T0)
    added = admin(
        scalelite, "addServer", {"server": {"url": scalelite.server_url("n1"), "secret": "new-secret"}}
    )
    assert added.status_code == 201
    server = added.json()
    assert (server["state"], server["online"], server["load"], server["load_multiplier"], server["tag"]) == (
        "disabled",
        "offline",
        "unavailable",
        "1.0",
        "",
    )
    assert set(server) == {
        "id",
        "url",
        "secret",
        "tag",
        "bbb_version",
        "state",
        "load",
        "load_multiplier",
        "online",
    }
    enabled = admin(scalelite, "updateServer", {"id": server["id"], "server": {"state": "enable"}})
    assert enabled.status_code == 200 and enabled.json()["state"] == "enabled"
    world.poll(T0)
    info = admin(scalelite, "getServerInfo", query=f"id={server['id']}").json()
    assert (info["online"], info["load"], info["bbb_version"]) == ("online", 0.0, "2.7.12")
    cordoned = admin(scalelite, "updateServer", {"id": server["id"], "server": {"state": "cordon"}})
    assert cordoned.json()["state"] == "cordoned"
    bad = admin(scalelite, "updateServer", {"id": server["id"], "server": {"state": "enabled"}})
    assert bad.status_code == 400 and "Invalid state" in bad.json()["error"]
    deleted = admin(scalelite, "deleteServer", {"id": server["id"]})
    assert deleted.status_code == 200 and "destroyed" in deleted.json()["success"]
    assert len(admin(scalelite, "getServers").json()) == 2
    missing = admin(scalelite, "getServerInfo", query=f"id={server['id']}")
    assert missing.status_code == 404 and "Couldn't find server" in missing.json()["error"]


def test_admin_refuses_non_json_posts_and_reports_missing_parameters(scalelite):
    digest = checksum("addServer", "", LB_SECRET)
    form = requests.post(f"{scalelite.admin_url}/addServer?checksum={digest}", data={"url": "x"}, timeout=5)
    assert etree.fromstring(form.content).findtext("messageKey") == "unsupportedContentType"
    missing = admin(scalelite, "addServer", {"url": "x"})
    assert (
        missing.status_code == 200
        and etree.fromstring(missing.content).findtext("messageKey") == "internalError"
    )
    blank = admin(scalelite, "addServer", {"server": {"url": "", "secret": ""}})
    assert blank.status_code == 400 and blank.json() == {"error": "Server needs a URL and a secret"}


def test_delete_server_does_not_check_for_meetings(world, scalelite):
    world.create_meeting("class", OLD, participants=20, server="s0")
    s0 = next(
        s for s in admin(scalelite, "getServers").json() if s["url"].endswith("/bbb/s0/bigbluebutton/api")
    )
    assert admin(scalelite, "deleteServer", {"id": s0["id"]}).status_code == 200
    assert world.hidden_meetings() == ["class"]


def test_create_join_end_through_scalelite(world, scalelite):
    world.poll(T0)
    created = xml(call(scalelite.url, "create", LB_SECRET, {"meetingID": "room-1", "name": "Room 1"}))
    assert created.findtext("returncode") == "SUCCESS" and created.findtext("meetingID") == "room-1"
    server = world.meetings["room-1"].server
    joined = call(
        scalelite.url, "join", LB_SECRET, {"meetingID": "room-1", "fullName": "Ana", "role": "MODERATOR"}
    )
    assert joined.status_code == 302 and joined.headers["Location"].startswith(
        scalelite.server_url(server) + "/join?"
    )
    assert (world.meetings["room-1"].participants, world.meetings["room-1"].moderators) == (1, 1)
    running = xml(call(scalelite.url, "isMeetingRunning", LB_SECRET, {"meetingID": "room-1"}))
    assert running.findtext("running") == "true"
    assert (
        xml(call(scalelite.url, "end", LB_SECRET, {"meetingID": "room-1"})).findtext("returncode")
        == "SUCCESS"
    )
    assert (
        xml(call(scalelite.url, "end", LB_SECRET, {"meetingID": "room-1"})).findtext("messageKey")
        == "notFound"
    )


def test_create_is_rejected_when_no_server_can_take_it(world, scalelite):
    for entry in world.scalelite_servers():
        world.update_server(entry.id, state="cordon")
    root = xml(call(scalelite.url, "create", LB_SECRET, {"meetingID": "room-2"}))
    assert (root.findtext("returncode"), root.findtext("messageKey")) == ("FAILED", "internalError")
    assert world.rejected_meetings == 1


def test_each_bbb_server_has_its_own_api_and_secret(world, scalelite):
    world.create_meeting("m", OLD, participants=3, server="s1")
    own = xml(call(scalelite.server_url("s1"), "getMeetings", "bbb-secret-1"))
    assert [m.findtext("meetingID") for m in own.iterfind("meetings/meeting")] == ["m"]
    assert (
        xml(call(scalelite.server_url("s1"), "getMeetings", LB_SECRET)).findtext("messageKey")
        == "checksumError"
    )
    sha384 = hashlib.sha384(("getMeetings" + "bbb-secret-1").encode()).hexdigest()  # BBB accepts sha384
    answer = requests.get(f"{scalelite.server_url('s1')}/getMeetings?checksum={sha384}", timeout=5)
    assert xml(answer).findtext("returncode") == "SUCCESS"
    root = xml(requests.get(scalelite.server_url("s1"), timeout=5))
    assert root.findtext("bbbVersion") == "2.7.12"
    world.set_recordings_pending("s1", 2)
    recordings = xml(
        call(scalelite.server_url("s1"), "getRecordings", "bbb-secret-1", {"state": "processing"})
    )
    assert [r.findtext("state") for r in recordings.iterfind("recordings/recording")] == ["processing"] * 2


def test_unhealthy_bbb_servers_answer_503_500_or_nothing(world, scalelite):
    world.set_answering("s0", False)
    assert requests.get(scalelite.server_url("s0"), timeout=5).status_code == 503
    world.set_answering("s0", True)
    world.set_fault("s0", api_error=True)
    broken = call(scalelite.server_url("s0"), "getMeetings", "bbb-secret-0")
    assert broken.status_code == 500
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(broken.content)
    world.set_fault("s0", api_error=False, offline=True)
    with pytest.raises(requests.ConnectionError):
        requests.get(scalelite.server_url("s0"), timeout=5)
    world.power_off("s1")
    with pytest.raises(requests.ConnectionError):
        requests.get(scalelite.server_url("s1"), timeout=5)


def test_panic_server_ends_every_meeting_and_get_servers_is_404_when_empty(world, scalelite):
    world.create_meeting("class", OLD, participants=20, server="s0")
    s0 = next(
        s for s in admin(scalelite, "getServers").json() if s["url"].endswith("/bbb/s0/bigbluebutton/api")
    )
    panicked = admin(scalelite, "panicServer", {"id": s0["id"]})
    assert panicked.status_code == 200 and "meetings have been destroyed" in panicked.json()["success"]
    assert world.killed_meetings == [("class", "s0", "panicServer")]
    assert admin(scalelite, "getServerInfo", query=f"id={s0['id']}").json()["state"] == "disabled"
    for server in admin(scalelite, "getServers").json():
        assert admin(scalelite, "deleteServer", {"id": server["id"]}).status_code == 200
    empty = admin(scalelite, "getServers")
    assert empty.status_code == 404 and empty.json() == {"error": "No servers are configured"}


def test_concurrent_creates_lose_nothing(world, scalelite):
    from concurrent.futures import ThreadPoolExecutor

    world.poll(T0)
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda n: xml(call(scalelite.url, "create", LB_SECRET, {"meetingID": f"r{n}"})), range(40)
            )
        )
    assert {a.findtext("returncode") for a in answers} == {"SUCCESS"}
    assert len(world.meetings) == 40
    assert sum(e.load for e in world.scalelite_servers()) == 40.0  # each create added 1 to its server
    assert max(e.load for e in world.scalelite_servers()) == 20.0  # lowest load first: spread evenly
