"""Redis' wire protocol (RESP), just enough to read Scalelite's placement set: no Redis client library is
in the locks, and a harness must not add one."""

from __future__ import annotations


class RedisReplyError(RuntimeError):
    """Redis answered an error, or something that is not RESP."""


def read_reply(stream):
    line = stream.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisReplyError(f"redis: {rest.decode()}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = stream.read(size + 2)[:-2]
        return data.decode()
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [read_reply(stream) for _ in range(count)]
    raise RedisReplyError(f"redis: unexpected reply {line!r}")
