"""bench/real_scalelite_bursts.py with the guard's repairs told apart from flaps.

That bench counts a flap whenever the guard sent cordon, enable, cordon to one server within 3 s. The
guard's repair of a cordon a poll round silently undid is enable then cordon, sent back to back (the
only sequence that takes the server out of Scalelite's placement set again): it is not a flap (the
server was never meant to take rooms in between). Here a triple whose enable and second cordon come
within 0.5 s of each other counts as a repair; the rest as flaps. Same arguments as that bench.

    BBBSCALE_SCALELITE_CHECKOUT=... .venv/bin/python bench/guard_real_flaps.py   # needs: a Scalelite checkout
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import real_scalelite_bursts as bench  # noqa: E402

REPAIR_S = 0.5
repairs: list[tuple[float, str]] = []


def flaps(actions):
    """bench.flaps, less the repairs (enable then cordon within REPAIR_S), which are kept apart."""
    by_server: dict[str, list[tuple[float, str]]] = {}
    for at, server_id, state in actions:
        by_server.setdefault(server_id, []).append((at, state))
    found = []
    for server_id, seq in by_server.items():
        for (t1, a), (t2, b), (t3, c) in zip(seq, seq[1:], seq[2:]):
            if (a, b, c) == ("cordon", "enable", "cordon") and t3 - t1 <= bench.FLAP_S:
                (repairs if t3 - t2 <= REPAIR_S else found).append((t3, server_id))
    return found


if __name__ == "__main__":
    bench.flaps = flaps
    code = bench.main()
    print(f'{{"repairs": {len(repairs)}}}')
    sys.exit(code)
