"""Reading the lock files `./dev lock` writes (`uv pip compile --generate-hashes` output)."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.utils import canonicalize_name

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def read_lock(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """{canonical name: (version, sha256 hashes)} of a `uv pip compile --generate-hashes` file."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    name = None
    for line in path.read_text().splitlines():
        pin = PIN.match(line)
        if pin:
            name = canonicalize_name(pin.group(1))
            assert name not in pins, f"{path.name}: {name} pinned twice"
            pins[name] = (pin.group(2), frozenset())
        elif name and (found := HASH.findall(line)):
            version, hashes = pins[name]
            pins[name] = (version, hashes | set(found))
        elif line.strip() and not line.lstrip().startswith("#"):
            raise AssertionError(f"{path.name}: unexpected line {line!r}")
    return pins
