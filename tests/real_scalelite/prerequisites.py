"""What the real Scalelite needs on this machine, and why it cannot run when it cannot (one line each:
the tests skip with it, the bench prints it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

CHECKOUT_VAR = "BBBSCALE_SCALELITE_CHECKOUT"
GEMS = ("rails", "puma", "connection_pool", "redis", "redis-namespace", "pg", "bootsnap", "jwt")
TOOLS = ("ruby", "bundle", "redis-server", "initdb", "pg_ctl", "runuser")
DEBIAN_PACKAGES = (
    "ruby ruby-rails ruby-pg ruby-redis ruby-redis-namespace puma ruby-connection-pool ruby-bootsnap "
    "ruby-jwt bundler redis-server postgresql"
)


def pg_bin(tool: str) -> str | None:
    """initdb and pg_ctl live in /usr/lib/postgresql/<major>/bin on Debian, not on PATH."""
    found = shutil.which(tool)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), reverse=True)
    return str(candidates[0]) if candidates else None


def unavailable() -> str | None:
    """Why the real Scalelite cannot run here (one line), or None when it can."""
    checkout = os.environ.get(CHECKOUT_VAR, "")
    if not checkout:
        return f"{CHECKOUT_VAR} is not set (a Scalelite checkout, e.g. tag v1.6.1)"
    if not (Path(checkout) / "app" / "models" / "server.rb").is_file():
        return f"{CHECKOUT_VAR}={checkout} is not a Scalelite checkout (no app/models/server.rb)"
    missing = [
        tool for tool in TOOLS if not (pg_bin(tool) if tool in ("initdb", "pg_ctl") else shutil.which(tool))
    ]
    if missing:
        return f"missing {', '.join(missing)} (apt-get install {DEBIAN_PACKAGES})"
    probe = subprocess.run(
        [
            "ruby",
            "-e",
            "%w[rails pg redis redis-namespace puma connection_pool bootsnap jwt].each { |g| gem g }",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"Debian's Ruby gems are missing (apt-get install {DEBIAN_PACKAGES})"
    return None


def free_port() -> int:
    """A port the OS picks on 127.0.0.1 (free when asked; the process binding it follows at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
