"""What a room is expected to weigh once its pupils have joined (pure): learned per meeting_id from the
rooms the tick has seen settle, else per timetable slot, else a default room.

Why per meeting_id: a class group's room comes back every week under the same meetingID (a Greenlight
room), and its size stays near its own mean, while rooms range from 2 to 40 users: the room's own past
is the best guess of what it will weigh, far better than any average. A room seen for the first time
gets the typical room of its slot (rooms of the 08:00 slot, learned across days), and with no history
at all the weights' default room.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The most rooms remembered (the least recently seen are forgotten first): ~40 bytes each in the store.
MAX_ROOMS = 8000


@dataclass
class RoomSizes:
    """Learned sizes, in load units at real size. `rooms`: meeting_id -> [mean of past sessions (or -1),
    create time (ms) of the session being learned, its largest settled units]; `slots`: slot key ->
    [sum, count] of sessions' units."""

    default_units: float
    rooms: dict[str, list[float]] = field(default_factory=dict)
    slots: dict[str, list[float]] = field(default_factory=dict)
    learned: int = 0  # sessions learned since made (to decide when to save)

    def learn(self, meeting_id: str, session_ms: int, units: float, slot: str | None = None) -> None:
        """A settled room (its pupils have joined) weighs `units` in the session created at `session_ms`."""
        known = self.rooms.get(meeting_id)
        if known is not None and known[1] == session_ms:
            if units > known[2]:
                known[2] = units
            return
        if known is None:
            known = [-1.0, session_ms, units]
        else:
            known = [known[2] if known[0] < 0 else (known[0] + known[2]) / 2, session_ms, units]
            self.rooms.pop(meeting_id)
        self.rooms[meeting_id] = known  # re-inserted: the dict's order is least recently seen first
        if slot:
            total = self.slots.setdefault(slot, [0.0, 0.0])
            total[0] += units
            total[1] += 1
        self.learned += 1
        while len(self.rooms) > MAX_ROOMS:
            self.rooms.pop(next(iter(self.rooms)))

    def expected(self, meeting_id: str, session_ms: int = 0, slot: str | None = None) -> tuple[float, str]:
        """(units, where the figure comes from) for a room still filling up in the session `session_ms`."""
        known = self.rooms.get(meeting_id)
        if known is not None:
            if known[1] == session_ms:  # this session has settled already: its own size
                past = known[2]
            else:
                past = known[2] if known[0] < 0 else (known[0] + known[2]) / 2
            if past >= 0:
                return past, "room"
        total = self.slots.get(slot or "")
        if total is not None and total[1] >= 10:
            return total[0] / total[1], "slot"
        return self.default_units, "default"

    def as_json(self) -> dict:
        return {
            "rooms": {k: [round(v[0], 1), int(v[1]), round(v[2], 1)] for k, v in self.rooms.items()},
            "slots": {k: [round(v[0], 1), v[1]] for k, v in self.slots.items()},
        }

    @classmethod
    def from_json(cls, document: dict | None, default_units: float) -> RoomSizes:
        """Read what `as_json` wrote; anything malformed is dropped (a memory, not a record)."""
        sizes = cls(default_units)
        document = document if isinstance(document, dict) else {}
        for key, value in (document.get("rooms") or {}).items():
            if isinstance(value, list) and len(value) == 3 and all(isinstance(v, int | float) for v in value):
                sizes.rooms[str(key)] = [float(value[0]), float(value[1]), float(value[2])]
        for key, value in (document.get("slots") or {}).items():
            if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
                sizes.slots[str(key)] = [float(value[0]), float(value[1])]
        return sizes
