"""How domain records are written down: one JSON text per Server, Reservation or HistoryEntry.

Every state backend stores the same text, so the three behave identically and a record read back equals
the record written: datetimes become fixed-width UTC ISO-8601 strings (which also sort by time as plain
strings), `ServerState` its value, floats their shortest exact repr (JSON), None stays null.
A naive datetime or a detail that JSON cannot hold is refused before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cache
from typing import TypeVar, get_type_hints

from chalicelib.domain.fleet import Server, ServerState
from chalicelib.domain.overrides import OPERATOR_SETTINGS
from chalicelib.ports import BbbscaleError, HistoryEntry, Reservation

Record = TypeVar("Record", Server, Reservation, HistoryEntry)


class RecordError(BbbscaleError, ValueError):
    """A record cannot be stored as given (naive datetime, a value JSON cannot hold)."""


#: A lease may end at most this long past `now + ttl` as this process's clock reads it; one that ends
#: later was not given by a clock that agrees with ours (the host's clock stepped back, an NTP step after
#: a resume): it is taken over like a lapsed one, or a dead tick's lease blocked every check for as long
#: as the step (an hour back: an hour of no scaling). A live holder whose lease is taken checks its owner
#: before each act and stops, as after any takeover.
CLOCK_STEP_SECONDS = 300


def lease_far(now: datetime, ttl_seconds: int) -> str:
    """The stamp past which a lease's end is not believed (see CLOCK_STEP_SECONDS)."""
    return stamp(now + timedelta(seconds=ttl_seconds + CLOCK_STEP_SECONDS))


def stamp(moment: datetime) -> str:
    """The stored, sortable form of a tz-aware datetime (converted to UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RecordError(
            f"naive datetime {moment.isoformat()} refused: state stores take tz-aware UTC times"
        )
    # isoformat pads the year to 4 digits (strftime's %Y does not on glibc) and, with microseconds always
    # present, every stamp has the same width: string order is time order.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def history_row(entry: HistoryEntry, keep: timedelta) -> tuple[str, str, str]:
    """(body, its time stamp, the stamp before which entries fall out of the retention window `keep`)."""
    body, at = dump(entry), stamp(entry.at)
    try:
        horizon = stamp(entry.at - keep)
    except OverflowError:  # an entry near year 1: nothing can be older
        horizon = ""
    return body, at, horizon


def unstamp(text: str) -> datetime:
    """The tz-aware UTC datetime of a stored stamp."""
    moment = datetime.fromisoformat(text)  # "+00:00" parses to the timezone.utc singleton
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def _plain(value):
    """JSON's fallback for values a history detail may reasonably hold."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def to_json(value) -> str:
    """A settings value or history detail as JSON text; RecordError if JSON cannot hold it."""
    try:
        return json.dumps(value, default=_plain, allow_nan=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise RecordError(f"value cannot be stored as JSON: {error}") from None


@cache
def _field_names(kind: type) -> frozenset[str]:
    return frozenset(spec.name for spec in dataclasses.fields(kind))


@cache
def _datetime_fields(kind: type) -> frozenset[str]:
    hints = get_type_hints(kind)
    return frozenset(name for name, hint in hints.items() if "datetime" in str(hint))


def dump(record: Record) -> str:
    """The JSON text of a Server, Reservation or HistoryEntry."""
    kind: type = type(record)  # widened to `type`: mypy takes a frozen dataclass's class for unhashable
    moments = _datetime_fields(kind)  # (python/mypy#20409); the cache holds the class itself either way
    body = {}
    for spec in dataclasses.fields(record):
        value = getattr(record, spec.name)
        if spec.name in moments and value is not None:
            value = stamp(value)
        elif isinstance(value, Enum):
            value = value.value
        body[spec.name] = value
    return to_json(body)


def load(kind: type[Record], text: str) -> Record:
    """The record a `dump` wrote. Unknown keys (a field since removed) are ignored; missing ones default."""
    body = json.loads(text)
    shape: type = kind  # widened to `type` for the cache's Hashable argument, as in `dump`
    names = _field_names(shape)
    moments = _datetime_fields(shape)
    values = {}
    for name, value in body.items():
        if name not in names:
            continue
        if name in moments and value is not None:
            value = unstamp(value)
        values[name] = value
    if kind is Server:
        values["state"] = ServerState(values["state"])
    return kind(**values)


def check_server(server: Server) -> None:
    """Refuse a server record that could not be stored, before any write."""
    if not server.name or not server.provider:
        raise RecordError("a server needs a name and a provider")
    if server.version < 0:
        raise RecordError(f"server {server.name}: negative version {server.version}")


def check_setting(key: str) -> str:
    """`key` if it names an operator setting; RecordError otherwise (before anything is read or
    written). What the services keep between ticks has its own ports (chalicelib/state_ports.py): a
    module that reached for the settings map instead fails here, at once, on every backend."""
    if key not in OPERATOR_SETTINGS:
        raise RecordError(
            f"not an operator setting: {key!r} (settings are {', '.join(sorted(OPERATOR_SETTINGS))})"
        )
    return key
