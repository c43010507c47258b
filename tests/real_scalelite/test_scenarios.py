"""Scalelite's placement, poller and server states: one script per scenario, run against the simulator's
Scalelite model (always) and the real Scalelite (when BBBSCALE_SCALELITE_CHECKOUT names a checkout).

Each script asserts the same outcome on both; the facts come from Scalelite v1.6.1's source
(app/models/server.rb `save!`, `increment_load`, `find_available`; lib/tasks/poll.rake;
app/controllers/bigbluebutton_api_controller.rb create and join; app/services/server_update_service.rb)
and were seen on the real one. Loads are compared as multisets where Scalelite breaks a tie between
equal loads by the servers' random ids.
"""

from __future__ import annotations

from chalicelib.ports import ApiError


def _fleet(backend, loads: dict[str, int]) -> None:
    """Servers with an old meeting of `load` users each (no moderators), enabled and polled."""
    for name, users in loads.items():
        backend.add_server(name)
        if users:
            backend.seed_meeting(name, f"old-{name}", users, 0)
    backend.poll_round()


def test_a_burst_between_polls_herds_onto_the_servers_lowest_at_the_last_poll(backend):
    _fleet(backend, {"a": 10, "b": 5, "c": 0})
    assert backend.placeable() == {"a": 10.0, "b": 5.0, "c": 0.0}
    with backend.polls_held():  # between two polls, however long the eight creates take here
        landed = [backend.create(f"burst-{n}") for n in range(8)]
        # each create adds 1 to its server (increment_load): the lowest takes rooms until it ties the next
        assert landed.count("a") == 0 and landed[:5] == ["c"] * 5
        assert sorted(backend.placeable().values()) == [6.0, 7.0, 10.0]
    backend.poll_round()
    # after the poll a room younger than 15 min counts as 15 users (LOAD_MIN_USER_COUNT)
    rooms = {name: landed.count(name) for name in "bc"}
    assert backend.placeable() == {"a": 10.0, "b": 5.0 + 15 * rooms["b"], "c": 15.0 * rooms["c"]}


def test_a_cordon_during_a_poll_round_is_silently_undone(backend):
    _fleet(backend, {"a": 2, "b": 30})
    assert backend.create("room-1") == "a"  # a: 3 in the placement set
    backend.during_round(lambda: backend.set_state("a", "cordon"))
    with backend.polls_held():  # until the next poll
        # the round read `a` enabled at its start and computed a new load (2 + a young room at 15 = 17):
        # save! writes no state (the poller did not change it) but re-adds `a` to server_load at 17
        reported = backend.reported("a")
        assert (reported.state, reported.load) == ("cordoned", 3.0)  # cordoned_server_load: frozen
        assert backend.placeable() == {"a": 17.0, "b": 30.0}
        assert backend.create("room-2") == "a"  # placed on a server reported cordoned
        backend.set_state("a", "cordon")  # the state is unchanged: save! writes nothing
        assert "a" in backend.placeable()
        backend.set_state("a", "enable")  # back to server_load at the frozen load ...
        backend.set_state("a", "cordon")  # ... and out of it
        assert backend.placeable() == {"b": 30.0}
        assert backend.create("room-3") == "b"


def test_a_disable_during_a_poll_round_leaves_the_server_placeable_and_its_joins_refused(backend):
    _fleet(backend, {"a": 2, "b": 30})
    assert backend.create("room-1") == "a"
    backend.during_round(lambda: backend.set_state("a", "disable"))
    with backend.polls_held():  # until the next poll
        reported = backend.reported("a")
        assert (reported.state, reported.load) == ("disabled", None)
        assert backend.placeable() == {"a": 17.0, "b": 30.0}  # re-added as the round read it: enabled
        assert backend.create("room-2") == "a"  # a room placed on a server reported disabled ...
        assert not backend.join("room-2")  # ... whose joins Scalelite refuses (ServerDisabledError)
    backend.poll_round()  # a round that reads it disabled writes nothing: it stays placeable
    assert "a" in backend.placeable()
    backend.set_state("a", "enable")
    backend.set_state("a", "disable")  # a state change: out of every set
    assert backend.placeable() == {"b": 30.0}


def test_a_cordon_during_a_round_that_changes_no_load_holds(backend):
    _fleet(backend, {"a": 2, "b": 30})
    # nothing moved since the last poll: the round computes the load it read, so save! adds nothing
    backend.during_round(lambda: backend.set_state("a", "cordon"))
    assert backend.placeable() == {"b": 30.0}
    assert backend.reported("a").state == "cordoned"


def test_an_enabled_server_is_placeable_only_after_the_next_poll_unless_it_was_cordoned(backend):
    _fleet(backend, {"a": 40, "b": 20, "c": 30})
    with backend.polls_held():
        backend.set_state("b", "disable")
        backend.set_state("c", "cordon")
        backend.add_server("d", enable=False)
        for name in "bcd":
            backend.set_state(name, "enable")
        # d was never polled, b was disabled: no load, no entry in server_load; c comes back with its load
        assert backend.placeable() == {"a": 40.0, "c": 30.0}
        assert backend.reported("d").state == "enabled" and backend.reported("d").load is None
        assert backend.reported("b").state == "enabled" and backend.reported("b").load is None
        assert backend.create("room-1") == "c"
    backend.poll_round()
    assert backend.placeable() == {"a": 40.0, "b": 20.0, "c": 45.0, "d": 0.0}
    assert backend.create("room-2") == "d"


def test_an_operators_disable_holds_across_polls_and_refuses_joins(backend):
    _fleet(backend, {"a": 10, "b": 0})
    with backend.polls_held():
        assert backend.create("room-1") == "b"
        backend.set_state("b", "disable")
        reported = backend.reported("b")
        assert (reported.state, reported.load) == ("disabled", None)
        assert not backend.join("room-1")  # ServerDisabledError
    backend.poll_round()
    assert backend.reported("b").state == "disabled"
    assert backend.placeable() == {"a": 10.0}
    assert backend.create("room-2") == "a"


def test_joins_to_a_cordoned_server_work_and_leave_its_reported_load_frozen(backend):
    _fleet(backend, {"a": 0, "b": 50})
    with backend.polls_held():
        assert backend.create("room-1") == "a"
        backend.set_state("a", "cordon")
        for n in range(3):
            assert backend.join("room-1", moderator=n == 0)
        meeting = backend.world.meetings["room-1"]
        assert (meeting.participants, meeting.moderators) == (3, 1)
        assert backend.reported("a").load == 1.0  # only servers in server_load count joins
        assert backend.placeable() == {"b": 50.0}
    backend.poll_round()
    assert backend.reported("a").load == 15.0  # young room: at least 15 until the poll sees more


def test_moderators_count_twice_in_the_pollers_load(backend):
    backend.add_server("a")
    backend.seed_meeting("a", "lesson", participants=10, moderators=3)
    backend.poll_round()
    assert backend.placeable() == {"a": 13.0}  # participantCount + moderatorCount
    assert backend.reported("a").load == 13.0


def test_the_teachers_join_adds_one_after_the_create(backend):
    _fleet(backend, {"a": 20})
    with backend.polls_held():
        assert backend.create("lesson") == "a"
        assert backend.placeable() == {"a": 21.0}  # the create
        assert backend.join("lesson", moderator=True)
        assert backend.placeable() == {"a": 22.0}  # the teacher
        assert backend.join("lesson")
        assert backend.reported("a").load == 23.0  # and each pupil


def test_a_failed_create_stays_pinned_to_its_server(backend):
    _fleet(backend, {"a": 0, "b": 10})
    with backend.polls_held():
        backend.world.set_fault("a", api_error=True)
        assert backend.create("lesson") is None  # Scalelite stored the meeting on `a`, then BBB failed
        assert backend.placeable() == {"a": 1.0, "b": 10.0}  # the create's +1 stays
        backend.world.set_fault("a", api_error=False)
        backend.set_state("a", "cordon")
        # a retry finds Scalelite's meeting record and goes to its server, cordoned or not, adding nothing
        assert backend.create("lesson") == "a"
        assert backend.reported("a").load == 1.0


def test_bad_input_is_refused_and_changes_nothing(backend):
    _fleet(backend, {"a": 5})
    try:
        backend.client.set_state(backend.ids["a"], "drain")
    except ValueError:
        pass
    try:
        backend.client.server("no-such-id")
    except ApiError as error:
        assert error.key == "notFound"
    else:
        raise AssertionError("an unknown id must be refused")
    assert backend.reported("a").state == "enabled"
