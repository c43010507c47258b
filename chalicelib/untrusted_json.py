"""JSON from someone we do not trust (Scalelite's admin API, a webhook, a chat platform), bounded.

`json.loads` alone has two hostile shapes (issue 23): deep nesting raises RecursionError — not a
ValueError, so it escaped the callers' handling, ended `bbbscale run` and made routes answer 500 — and
many tiny containers cost ~30x their bytes (180 MB of `{}` took 4.9 GB). So before parsing, the values
are counted with C-speed byte counts (every `{`, `[`, `,` and `:`, inside strings too: an over-count,
so the bound is safe), and the nesting that the interpreter's recursion limit stops is one error too.
Anything past a bound is one `UntrustedJsonError` (a ValueError) naming it; nothing is kept.
"""

from __future__ import annotations

import json

#: getServers for 1,000 servers is ~10,000 values; 200,000 is 20x that (and ~10 MB of Python objects).
MAX_ITEMS = 200_000


class UntrustedJsonError(ValueError):
    """Not JSON, or JSON past a bound: the message says which, in one line."""


def loads(raw: bytes | str, max_items: int = MAX_ITEMS):
    """Parse `raw` as JSON once it is known to hold at most `max_items` values; nesting past the
    interpreter's recursion limit (~1,000 levels) is refused, not raised as RecursionError."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    items = sum(data.count(mark) for mark in (b"{", b"[", b",", b":"))
    if items > max_items:
        raise UntrustedJsonError(f"JSON with more than {max_items:,} values, over the sanity bound")
    try:
        return json.loads(data)
    except RecursionError:
        raise UntrustedJsonError("JSON nested too deep") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise UntrustedJsonError(f"not valid JSON ({type(error).__name__})") from None
