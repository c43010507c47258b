"""What each room weighed, as a process learns it for the burst guard's projections: the tick feeds it
the rooms that have just settled, the store keeps it now and then, and the guard reads it (by meeting
ID, else the slot's typical room, else the mix's default room; chalicelib/domain/rooms.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.domain.load import Meeting, meeting_units
from chalicelib.domain.rooms import RoomSizes
from chalicelib.domain.slots import SlotClock
from chalicelib.ports import StateStore
from chalicelib.service.fleet_ports import FleetPorts


def slot_clock(ports: FleetPorts) -> SlotClock:
    """The timetable's clock of class starts, one per memory (the tick and the guard share its cache)."""
    if ports.memory.slots is None:
        ports.memory.slots = SlotClock(ports.settings)
    return ports.memory.slots


def default_room_units(settings) -> float:
    """The weights' default room: `mix.room_size` users with the mix's mics and webcams, at real size."""
    mix, weights = settings.mix, settings.weights
    users = mix.room_size
    room = Meeting(
        "default",
        participants=round(users),
        voice=round(users * mix.mic_ratio),
        listen_only=round(users * (1 - mix.mic_ratio)),
        video=round(users * mix.webcam_ratio),
    )
    return meeting_units(room, weights, 0.0)


def load_room_sizes(store: StateStore, settings) -> RoomSizes:
    """The memory of room sizes as the store keeps it (empty at first)."""
    return store.room_memory.sizes(default_room_units(settings))


def room_sizes(ports: FleetPorts) -> RoomSizes:
    """What each room weighed (the burst guard's expected sizes), as this process learns it: read from
    the store once, then kept in the ports' memory."""
    if ports.memory.room_sizes is None:
        ports.memory.room_sizes = load_room_sizes(ports.store, ports.settings)
    return ports.memory.room_sizes


def learn_rooms(ports: FleetPorts, now: datetime, snapshot, slots: SlotClock | None = None) -> None:
    """Feed the rooms the tick sees to the memory of room sizes: every 5 minutes, the rooms that have
    just settled (older than `fill_minutes`, younger than twice that), at real size; saved to the store
    now and then (the tick is its only writer)."""
    if snapshot is None or now.minute % 5:
        return
    sizes, fill = room_sizes(ports), ports.settings.guard.fill_minutes * 60_000
    real = ports.settings.weights.model_copy(update={"young_room_participants": 0})
    now_ms = now.timestamp() * 1000
    slots = slots or slot_clock(ports)
    for m in snapshot.meetings:
        age = now_ms - m.create_time_ms
        if m.is_breakout or not m.create_time_ms or not fill <= age < 2 * fill:
            continue
        sizes.learn(
            m.meeting_id, m.create_time_ms, meeting_units(m, real, 0.0), slots.slot_of_ms(m.create_time_ms)
        )
    saved = ports.memory.saved
    if sizes.learned and (
        saved is None or (sizes.learned - saved[1] >= 200 and now - saved[0] >= timedelta(minutes=30))
    ):
        ports.store.room_memory.keep(sizes)
        ports.memory.saved = (now, sizes.learned)
