"""What each room weighed, as a process learns it for the burst guard's projections: the tick feeds it
the rooms that have just settled, the store keeps it now and then, and the guard reads it (by meeting
ID, else the slot's typical room, else the mix's default room; chalicelib/domain/rooms.py).

That memory is a `GuardMemory`, owned by whoever runs the ticks (the Wiring, chalicelib/bootstrap.py)
and handed beside the ports: the ports are a frozen bag of adapters and hold no mutable state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.load import Meeting, at_real_size, is_young, meeting_units
from chalicelib.domain.rooms import RoomSizes
from chalicelib.domain.slots import SlotClock
from chalicelib.ports import StateStore


@dataclass
class GuardMemory:
    """What one process remembers between ticks for the burst guard: the room sizes (loaded from the
    store on first use), when they were last saved, the timetable's clock of class starts (its cache)
    and the guard itself (service/guard.py `burst_guard`: its looks keep state). Kept between ticks so
    a replayed week does not read it back from the store every minute."""

    room_sizes: RoomSizes | None = None
    saved: tuple[datetime, int] | None = None
    guard: object | None = None
    slots: SlotClock | None = None

    def beside(self) -> GuardMemory:
        """The memory of a thread beside this one (the burst guard in `bbbscale run`): the same room
        sizes (as far as loaded) and saved marker, its own guard and timetable cache."""
        return GuardMemory(room_sizes=self.room_sizes, saved=self.saved)


def slot_clock(memory: GuardMemory, settings) -> SlotClock:
    """The timetable's clock of class starts, one per memory (the tick and the guard share its cache)."""
    if memory.slots is None:
        memory.slots = SlotClock(settings)
    return memory.slots


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


def room_sizes(memory: GuardMemory, store: StateStore, settings) -> RoomSizes:
    """What each room weighed (the burst guard's expected sizes), as this process learns it: read from
    the store once, then kept in the memory."""
    if memory.room_sizes is None:
        memory.room_sizes = load_room_sizes(store, settings)
    return memory.room_sizes


def known_rooms(
    memory: GuardMemory, store: StateStore, settings, now: datetime, snapshot
) -> dict[str, float]:
    """The young rooms of `snapshot` (younger than `young_room_minutes`) whose own past sessions the
    memory knows, with the units they reached (meeting ID -> units at real size): the planner counts
    them at that size (domain/load.sized_from_memory). A room seen for the first time is not here."""
    if snapshot is None:
        return {}
    now_s, weights = now.timestamp(), settings.weights
    young = [m for m in snapshot.meetings if not m.is_breakout and is_young(m, weights, now_s)]
    if not young:
        return {}
    sizes, known = room_sizes(memory, store, settings), {}
    for m in young:
        units, source = sizes.expected(m.meeting_id, m.create_time_ms)
        if source == "room":
            known[m.meeting_id] = units
    return known


def learn_rooms(
    memory: GuardMemory, store: StateStore, settings, now: datetime, snapshot, slots: SlotClock | None = None
) -> None:
    """Feed the rooms the tick sees to the memory of room sizes: every 5 minutes, the rooms that have
    just settled (older than `fill_minutes`, younger than twice that), at real size; saved to the store
    now and then (the tick is its only writer)."""
    if snapshot is None or now.minute % 5:
        return
    sizes, fill = room_sizes(memory, store, settings), settings.guard.fill_minutes * 60_000
    real = at_real_size(settings.weights)
    now_ms = now.timestamp() * 1000
    slots = slots or slot_clock(memory, settings)
    for m in snapshot.meetings:
        age = now_ms - m.create_time_ms
        if m.is_breakout or not m.create_time_ms or not fill <= age < 2 * fill:
            continue
        sizes.learn(
            m.meeting_id, m.create_time_ms, meeting_units(m, real, 0.0), slots.slot_of_ms(m.create_time_ms)
        )
    saved = memory.saved
    if sizes.learned and (
        saved is None or (sizes.learned - saved[1] >= 200 and now - saved[0] >= timedelta(minutes=30))
    ):
        store.room_memory.keep(sizes)
        memory.saved = (now, sizes.learned)
