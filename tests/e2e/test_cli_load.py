"""`bbbscale load` as an operator runs it (docs/contract.md `load --json`): real-shaped getMeetings answers
from a file or from a Scalelite over real HTTP give exactly the contract's sums; anything untrustworthy
is exit 1 with one stderr line and no load; bad usage and invalid configuration are exit 2.

A few cases run the program as a subprocess (exit codes, stderr, no traceback as the shell sees them);
the many response shapes go through `chalicelib.cli.main` in-process to stay fast.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bbbsim.scalelite_http import LocalScalelite
from bbbsim.world import SimWorld
from chalicelib.domain.load import Meeting
from tests.support.bbb_xml import Style, render_failed, render_get_meetings
from tests.support.cli_runs import config_file, run_main, run_program

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bbb"
LOAD_KEYS = {
    "meetings": int,
    "breakout_rooms": int,
    "participants": int,
    "moderators": int,
    "voice": int,
    "listen_only": int,
    "video_streams": int,
    "load_units": float,
}
SECRET = "lb-secret-must-never-show-0123456789"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

CLASSES = [
    Meeting(
        meeting_id="maths 4e & <B>",
        participants=28,
        moderators=1,
        voice=5,
        listen_only=20,
        video=2,
        create_time_ms=1_795_000_000_000,
    ),
    Meeting(
        meeting_id="histoire-géo",
        participants=31,
        moderators=2,
        voice=3,
        listen_only=26,
        video=1,
        create_time_ms=1_795_000_000_100,
    ),
    Meeting(
        meeting_id="maths 4e & <B> (Room 1)",
        participants=4,
        moderators=0,
        voice=4,
        listen_only=0,
        video=0,
        is_breakout=True,
        create_time_ms=1_795_000_000_200,
    ),
]
CLASS_SUMS = {
    "meetings": 3,
    "breakout_rooms": 1,
    "participants": 63,
    "moderators": 3,
    "voice": 12,
    "listen_only": 46,
    "video_streams": 3,
}


def assert_load(document: dict, **expected: int) -> None:
    """Exactly the contract's keys, each of the contract's type (bool is not a count), with `expected`."""
    assert set(document) == set(LOAD_KEYS), sorted(document)
    for key, kind in LOAD_KEYS.items():
        assert type(document[key]) is kind, (key, document[key])
        assert document[key] >= 0
    assert {key: document[key] for key in expected} == expected
    assert (document["load_units"] > 0) == (document["participants"] > 0)


# --- real-shaped answers from a file -------------------------------------------------------------------------


def test_the_api_docs_example_from_the_shell():
    sample = FIXTURES / "get_meetings_docs_example.xml"
    done = run_program("load", "--file", str(sample), "--json")
    assert done.err == ""
    assert_load(
        done.document(),
        meetings=1,
        participants=1,
        voice=1,
        video_streams=1,
        moderators=1,
        listen_only=0,
        breakout_rooms=0,
    )


@pytest.mark.parametrize(
    "style",
    [
        Style(),
        Style(pretty=True),
        Style(cdata=True),
        Style(pretty=True, cdata=True),
        Style(shuffle=True),
        Style(pretty=True, shuffle=True, attendees=False),
    ],
    ids=["compact", "pretty", "cdata", "pretty-cdata", "shuffled", "pretty-shuffled-bare"],
)
def test_every_way_a_server_writes_the_answer_gives_the_same_sums(tmp_path, capsys, style):
    path = tmp_path / "getMeetings.xml"
    path.write_text(render_get_meetings(CLASSES, style, random.Random(3)), encoding="utf-8")
    assert_load(run_main(capsys, "load", "--file", str(path), "--json").document(), **CLASS_SUMS)


def test_entities_cdata_metadata_and_a_breakout_in_a_hand_written_answer(capsys):
    document = run_main(
        capsys, "load", "--file", str(FIXTURES / "breakouts_pretty_cdata.xml"), "--json"
    ).document()
    # <metadata><meetings><meeting> inside a room is a create parameter, never a room (999 is not counted)
    assert_load(
        document,
        meetings=2,
        breakout_rooms=1,
        participants=29,
        moderators=1,
        voice=10,
        listen_only=18,
        video_streams=3,
    )


@pytest.mark.parametrize("fixture", ["no_meetings_bbb.xml", "no_meetings_scalelite.xml"])
def test_no_meetings_in_either_order_is_an_empty_load(capsys, fixture):
    document = run_main(capsys, "load", "--file", str(FIXTURES / fixture), "--json").document()
    assert_load(document, **dict.fromkeys(CLASS_SUMS, 0))
    assert document["load_units"] == 0.0


def test_human_output_names_every_figure(capsys):
    done = run_main(capsys, "load", "--file", str(FIXTURES / "breakouts_pretty_cdata.xml"))
    assert done.status == 0 and done.err == ""
    lines = dict(line.split(":", 1) for line in done.out.splitlines())
    assert {key.strip() for key in lines} == set(LOAD_KEYS)
    assert lines["   participants"].strip() == "29"


# --- refused answers ----------------------------------------------------------------------------------------


def test_a_failed_answer_from_the_shell_is_exit_1_with_one_line():
    run_program("load", "--file", str(FIXTURES / "failed_checksum.xml"), "--json").assert_failed(
        1, "checksumError"
    )


TRUNCATED = render_get_meetings(CLASSES, Style(pretty=True))[:700]
BROKEN = {
    "failed": (render_failed("internalError", "Internal error"), "internalError"),
    # a server's message with line breaks was printed as it came, over several stderr lines
    "failed-lines": (
        render_failed("checksumError", "You did not pass\nthe checksum\n\nsecurity check"),
        "pass the checksum security check",
    ),
    "failed-huge": (render_failed("internalError", "x" * 200_000), "internalError: xxx"),
    "truncated": (TRUNCATED, "malformed XML"),
    "not-xml": ("<html><body>502 Bad Gateway</body></html>", "not a BBB API answer"),
    "garbage": ("upstream connect error", "malformed XML"),
    "empty": ("", "malformed XML"),
    "no-returncode": ("<response><meetings/></response>", "returncode"),
    "bad-count": (
        render_get_meetings(CLASSES).replace("<participantCount>28<", "<participantCount>2x8<"),
        "participantCount",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_untrustworthy_answers_are_exit_1_and_no_load(tmp_path, capsys, case):
    text, named = BROKEN[case]
    path = tmp_path / "getMeetings.xml"
    path.write_text(text, encoding="utf-8")
    line = run_main(capsys, "load", "--file", str(path), "--json").assert_failed(1, "bbbscale load", named)
    assert len(line) < 600  # a bounded line, whatever the server wrote


@pytest.mark.parametrize("fixture", ["hostile_billion_laughs.xml", "hostile_external_entity.xml"])
def test_entity_declarations_are_refused_from_the_shell(fixture):
    run_program("load", "--file", str(FIXTURES / fixture), "--json").assert_failed(1, "DOCTYPE")


def test_an_answer_over_the_configured_size_limit_is_refused(tmp_path, capsys):
    small = config_file(
        tmp_path,
        replace={
            'url = "http://127.0.0.1:0/bigbluebutton/api"': 'url = "http://127.0.0.1:0/bigbluebutton/api"\nmax_response_bytes = 1000'
        },
    )
    path = tmp_path / "big.xml"
    path.write_text(render_get_meetings(CLASSES, Style(pretty=True)), encoding="utf-8")
    assert path.stat().st_size > 1000
    run_main(capsys, "load", "--config", str(small), "--file", str(path), "--json").assert_failed(
        1, "1000-byte limit"
    )
    # the same file under the default limit is read: the limit, not the content, refused it
    assert_load(run_main(capsys, "load", "--file", str(path), "--json").document(), **CLASS_SUMS)


def test_a_missing_file_is_exit_1(tmp_path, capsys):
    run_main(capsys, "load", "--file", str(tmp_path / "nope.xml")).assert_failed(1, "nope.xml")


# --- from a Scalelite over real HTTP -----------------------------------------------------------------------


@pytest.fixture()
def scalelite():
    """A local Scalelite on loopback with two BBB servers and CLASSES placed on them."""
    world = SimWorld(random.Random(5))
    old = T0 - timedelta(hours=1)
    with LocalScalelite(world, SECRET, clock=lambda: T0) as server:
        for i in range(2):
            world.add_bbb_server(f"s{i}", f"bbb-secret-{i}", 300, old)
            world.add_server(server.server_url(f"s{i}"), f"bbb-secret-{i}", state="enabled", online=True)
        for n, m in enumerate(CLASSES):
            world.create_meeting(
                m.meeting_id,
                old,
                participants=m.participants,
                moderators=m.moderators,
                voice=m.voice,
                video=m.video,
                listen_only=m.listen_only,
                server=f"s{n % 2}",
                is_breakout=m.is_breakout,
                parent_id=CLASSES[0].meeting_id if m.is_breakout else None,
            )
        yield server


def test_load_from_scalelite_from_the_shell(scalelite):
    done = run_program("load", "--scalelite", scalelite.url, "--secret", SECRET, "--json")
    assert done.err == ""
    assert_load(done.document(), **CLASS_SUMS)


def test_the_secret_may_come_from_the_environment(scalelite, capsys, monkeypatch):
    monkeypatch.setenv("BBBSCALE_SCALELITE_SECRET", SECRET)
    document = run_main(capsys, "load", "--scalelite", scalelite.url, "--json").document()
    assert_load(document, **CLASS_SUMS)


def test_a_wrong_secret_is_a_checksum_error_from_the_shell(scalelite):
    wrong = "not-the-secret-but-also-private-42"
    done = run_program("load", "--scalelite", scalelite.url, "--secret", wrong, "--json")
    done.assert_failed(1, "checksumError", secret=wrong)
    assert SECRET not in done.err


def test_an_unreachable_scalelite_is_exit_1(tmp_path, capsys):
    no_retries = config_file(
        tmp_path,
        replace={
            'url = "http://127.0.0.1:0/bigbluebutton/api"': 'url = "http://127.0.0.1:0/bigbluebutton/api"\nretries = 0'
        },
    )
    line = run_main(
        capsys,
        "load",
        "--config",
        str(no_retries),
        "--scalelite",
        "http://127.0.0.1:9/bigbluebutton/api",
        "--secret",
        SECRET,
        "--json",
    ).assert_failed(1, "127.0.0.1:9", secret=SECRET)
    assert "connection refused" in line


def test_a_getmeetings_slower_than_the_read_timeout_says_why_and_what_to_do(tmp_path, capsys, scalelite):
    """Scalelite v1.6.1 asks its servers one after another: on a large fleet its getMeetings outlasts the
    read timeout. Still one line, exit 1, no load; the line says so and names the setting."""
    scalelite.meetings_s_per_server = 0.5  # two servers: 1 s, against a 0.3-s read timeout
    patient = config_file(
        tmp_path,
        replace={
            'url = "http://127.0.0.1:0/bigbluebutton/api"': 'url = "http://127.0.0.1:0/bigbluebutton/api"\n'
            "retries = 0\nread_timeout = 0.3"
        },
    )
    line = run_main(
        capsys, "load", "--config", str(patient), "--scalelite", scalelite.url, "--secret", SECRET, "--json"
    ).assert_failed(1, "no byte for 0.3 s", "one after another", "scalelite.read_timeout", secret=SECRET)
    assert "tick --dry-run" in line


# --- bad usage and invalid configuration: exit 2 ------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, named",
    [
        (("load",), "--file"),
        (("frobnicate",), "frobnicate"),
        (("load", "--file", "x.xml", "--bogus"), "--bogus"),
        (("load", "--file", "x.xml", "--scalelite", "http://x"), "not allowed"),
        ((), "COMMAND"),
    ],
)
def test_bad_usage_is_exit_2_with_one_line(capsys, argv, named):
    run_main(capsys, *argv).assert_failed(2, named)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/bigbluebutton/api",
        "http://[::1/bigbluebutton/api",
        "http://127.0.0.1:9/",
        "http://127.0.0.1:9/api",
    ],
)
def test_a_scalelite_url_we_cannot_call_is_bad_usage(capsys, url):
    line = run_main(capsys, "load", "--scalelite", url, "--secret", SECRET, "--json").assert_failed(
        2, "--scalelite", secret=SECRET
    )
    assert "scalelite.url" not in line  # the flag was given, not the configuration's field


def test_bad_usage_from_the_shell():
    run_program("load", "--json").assert_failed(2, "--file", "--scalelite")


CONFIGS = {
    "unknown-field": ({"prepend": "frobnicate = 3\n"}, "frobnicate"),
    "unknown-provider-field": (
        {
            "replace": {
                'kind = "simulated"\nmode = "static"': 'kind = "simulated"\nmode = "static"\nbogus = 1'
            }
        },
        "providers.owned.bogus",
    ),
    "negative-quota": ({"replace": {"quota = 150": "quota = -150"}}, "providers.gandi.quota"),
    "unknown-kind": (
        {
            "replace": {
                'kind = "simulated"\nmode = "create"\ncapacity_units = 300\nhourly_cost = 0.38': 'kind = "openstack-typo"\nmode = "create"\ncapacity_units = 300\nhourly_cost = 0.38'
            }
        },
        "providers.ikoula.kind",
    ),
    "bad-toml": ({"prepend": "this is = = not toml\n"}, "TOML"),
    # finite but absurd, or not what it looks like: each crashed a later command or slipped through
    "tiny-capacity": (
        {
            "replace": {
                "capacity_units = 300\nhourly_cost = 0.45": "capacity_units = 5e-324\nhourly_cost = 0.45"
            }
        },
        "providers.gandi.capacity_units",
    ),
    "unicode-provider": (
        {"replace": {"[providers.gandi]": '[providers."gandié"]'}},
        "provider name 'gandié'",
    ),
    "fullwidth-provider": ({"replace": {"[providers.gandi]": '[providers."ｇandi"]'}}, "lowercase ASCII"),
    "slot-users": (
        {"replace": {"[state]": '[forecast]\ncold_start_slots = {"08:00" = 9223372036854775807}\n\n[state]'}},
        "forecast.cold_start_slots",
    ),
    "bad-zone": ({"replace": {"[state]": '[forecast]\nzone = "Z"\n\n[state]'}}, "forecast.zone"),
    "scalelite-path": (
        {"replace": {'url = "http://127.0.0.1:0/bigbluebutton/api"': 'url = "http://127.0.0.1:0/api"'}},
        "scalelite.url: must end with /bigbluebutton/api",
    ),
    "static-port": (
        {
            "replace": {
                'kind = "simulated"\nmode = "static"': 'kind = "static"\nmode = "static"\noptions = { servers = [{ name = "bbb01", url = "https://bbb01.example.org:99999/bigbluebutton/api" }] }'
            }
        },
        "no valid port",
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_invalid_configuration_is_exit_2_naming_the_field(tmp_path, capsys, case):
    edits, named = CONFIGS[case]
    path = config_file(tmp_path, **edits)
    run_main(
        capsys, "load", "--config", str(path), "--file", str(FIXTURES / "no_meetings_bbb.xml"), "--json"
    ).assert_failed(2, named)


def test_a_configuration_file_that_never_ends_is_refused(capsys):
    # /dev/zero was read until memory ran out: "unexpected MemoryError", exit 1
    run_main(capsys, "plan", "--users", "10", "--config", "/dev/zero").assert_failed(2, "/dev/zero", "MiB")


def test_invalid_configuration_from_the_shell(tmp_path):
    path = config_file(tmp_path, replace={"quota = 150": "quota = -150"})
    run_program("plan", "--users", "10", "--config", str(path), "--json").assert_failed(
        2, "providers.gandi.quota"
    )


INLINE = "inl1ne-s3cret/Value+789"  # a secret written where the secret's *name* goes


@pytest.mark.parametrize(
    "edits, field",
    [
        (
            {
                "replace": {
                    'url = "http://127.0.0.1:0/bigbluebutton/api"': f'url = "http://127.0.0.1:0/bigbluebutton/api"\nsecret_env = "{INLINE}"'
                }
            },
            "scalelite.secret_env",
        ),
        (
            {
                "replace": {
                    'kind = "simulated"\nmode = "create"\ncapacity_units = 300\nhourly_cost = 0.38': f'kind = "openstack"\nmode = "create"\ncapacity_units = 300\nhourly_cost = 0.38\noptions = {{ auth_url = "https://keystone.example.org:5000", username = "u", project_name = "p", image = "i", size = "s", password_env = "{INLINE}" }}'
                }
            },
            "providers.ikoula.options.password_env",
        ),
        (
            {"replace": {"[state]": f'[chat]\nslack_webhook_env = "{INLINE.upper()}"\n\n[state]'}},
            "chat.slack_webhook_env",
        ),
    ],
    ids=["scalelite", "provider-option", "chat"],
)
def test_a_secret_written_where_its_name_goes_is_refused_and_never_repeated(tmp_path, edits, field):
    # It was taken as a variable's name and echoed back: "--secret is required (or set <the secret>)",
    # "missing secrets: <the secret>".
    path = config_file(tmp_path, **edits)
    for argv in (("plan", "--users", "10"), ("tick", "--dry-run")):
        line = run_program(*argv, "--config", str(path), "--json").assert_failed(
            2, field, "environment variable", secret=INLINE
        )
        assert INLINE.upper() not in line and line.count("invalid") == 1 and "Extra inputs" not in line
