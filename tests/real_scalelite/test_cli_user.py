"""README's "Point it at a real Scalelite, safely", run as an operator runs it: `bbbscale load --scalelite`
and `bbbscale tick --dry-run` as programs, against the simulator's Scalelite model (always) and the real
Scalelite (when BBBSCALE_SCALELITE_CHECKOUT names a checkout), its two BBB servers already registered
and serving classes. Both commands read the rooms and participants from Scalelite's getMeetings (where
Scalelite's own poller counts each moderator twice in a server's load), and the dry run changes
nothing in Scalelite: the same servers in the same states, with the same loads, before and after.
"""

from __future__ import annotations

from tests.support.cli_runs import run_program, static_fleet

ROOMS = {"a": [(24, 1), (18, 1)], "b": [(30, 1)]}  # server -> (participants, moderators) of each class


def _config(tmp_path, backend) -> str:
    """An operator's fleet: the two servers as a static owned pool at the URLs Scalelite has."""
    servers = {f"bbb-{n}": backend.server_url(n) for n in ROOMS}
    extra = 'checksum = "sha256"'
    return str(
        static_fleet(tmp_path, backend.url, servers, scalelite=extra, guard=False, name="my-fleet.toml")
    )


def _registry(backend) -> dict[str, tuple[str, bool, float | None]]:
    return {name: (s.state, s.online, s.load) for name in ROOMS for s in [backend.reported(name)]}


def test_load_and_a_dry_run_tick_read_the_fleet_and_change_nothing(backend, tmp_path):
    for name, rooms in ROOMS.items():
        backend.add_server(name)
        for i, (users, moderators) in enumerate(rooms):
            backend.seed_meeting(name, f"class-{name}{i}", users, moderators)
    backend.poll_round()
    before = _registry(backend)
    assert before == {"a": ("enabled", True, 44.0), "b": ("enabled", True, 31.0)}  # users + moderators
    env = {"BBBSCALE_SCALELITE_SECRET": backend.secret}
    participants = sum(users for rooms in ROOMS.values() for users, _ in rooms)

    load = run_program("load", "--scalelite", backend.url, "--json", env=env).document()
    assert (load["meetings"], load["participants"]) == (3, participants)

    ticked = run_program("tick", "--dry-run", "--config", _config(tmp_path, backend), "--json", env=env)
    document = ticked.document()
    assert document["dry_run"] is True
    assert (document["load"]["meetings"], document["load"]["participants"]) == (3, participants)
    assert document["fleet"] == {"owned": {"serving": 2}}  # adopted from Scalelite's registrations
    assert not [a for a in document["actions"] if a["action"] not in ("hold",)], document["actions"]
    assert backend.secret not in ticked.out + ticked.err
    assert _registry(backend) == before, "a dry run acts on nothing"

    # `status` shows the dry run's decision from the history; the servers' records it did not write
    status = run_program("status", "--config", _config(tmp_path, backend), "--json", env=env).document()
    assert (status["load"]["meetings"], status["load"]["participants"]) == (3, participants)
    assert status["last_tick"] is not None and status["fleet"] == {}
