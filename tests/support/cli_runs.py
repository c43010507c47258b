"""Run `bbbscale` the way an operator does: as a program (a subprocess of this tree, `python -m
chalicelib`) or, for speed, through `chalicelib.cli.main` in-process; and the checks every command's
outside contract shares (docs/contract.md: exit status, one JSON document, one stderr line on failure)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TREE = Path(__file__).resolve().parents[2]
DEFAULT_TOML = TREE / "chalicelib" / "default.toml"


@dataclass(frozen=True)
class Outcome:
    """What a run left behind: exit status, stdout, stderr."""

    status: int
    out: str
    err: str

    def document(self) -> dict:
        """The one JSON document `--json` promises: the whole of stdout, nothing before or after."""
        assert self.status == 0, self.err
        return json.loads(self.out)

    def assert_failed(self, status: int, *words: str, secret: str | None = None) -> str:
        """Exit `status`, nothing on stdout, ONE stderr line naming each of `words`, no traceback, and
        `secret` nowhere. Returns the line."""
        assert self.status == status, (self.status, self.out, self.err)
        assert self.out == "", self.out
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        assert "Traceback" not in self.err
        for word in words:
            assert word in lines[0], (word, lines[0])
        if secret:
            assert secret not in self.out + self.err
        return lines[0]


def run_program(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 60) -> Outcome:
    """`python -m chalicelib ARGS` of this tree in a subprocess (the venv's console script points at
    another checkout, so the module is run with this tree first on PYTHONPATH)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BBBSCALE_")}
    environment.update(env or {})
    environment["PYTHONPATH"] = str(TREE)
    done = subprocess.run(
        [sys.executable, "-m", "chalicelib", *args],
        capture_output=True,
        text=True,
        cwd=cwd or TREE,
        env=environment,
        timeout=timeout,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def run_main(capsys, *args: str) -> Outcome:
    """`chalicelib.cli.main(ARGS)` in this process, with its exit status (argparse's SystemExit too)."""
    from chalicelib.cli import main

    capsys.readouterr()
    try:
        status = main(list(args))
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else 1
    captured = capsys.readouterr()
    return Outcome(status, captured.out, captured.err)


def config_file(
    directory: Path, name: str = "bbbscale.toml", *, prepend: str = "", replace: dict[str, str] | None = None
) -> Path:
    """The built-in configuration with `prepend` before it and `replace` applied line-wise (old -> new):
    a whole, valid file that differs from the default only where a test says so."""
    text = DEFAULT_TOML.read_text(encoding="utf-8")
    # The simulated tick and run keep their state in [state] path: in the test's directory, never the cwd.
    text = text.replace('path = "bbbscale.sqlite3"', f'path = "{directory / "bbbscale.sqlite3"}"')
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = directory / name
    path.write_text(prepend + text, encoding="utf-8")
    return path


def static_fleet(
    tmp_path: Path,
    scalelite_url: str,
    servers: dict[str, str],
    *,
    cluster: str = "school",
    scalelite: str = "",
    guard: bool = True,
    name: str = "fleet.toml",
) -> Path:
    """An operator's configuration file in `tmp_path`: the `servers` ({name: BBB API URL}) as a static
    owned pool, Scalelite at `scalelite_url` (more `[scalelite]` lines in `scalelite`), SQLite state
    beside it, no forecast; `guard` False switches the burst guard off."""
    pool = ", ".join(f'{{ name = "{n}", url = "{url}" }}' for n, url in servers.items())
    guard_off = "" if guard else "[guard]\nenabled = false"
    config = tmp_path / name
    config.write_text(
        f'''cluster = "{cluster}"
[forecast]
enabled = false
{guard_off}
[state]
backend = "sqlite"
path = "{tmp_path / "state.sqlite3"}"
[scalelite]
url = "{scalelite_url}"
{scalelite}
[providers.owned]
kind = "static"
mode = "static"
min_servers = {len(servers)}
max_servers = {len(servers)}
quota = {len(servers)}
[providers.owned.options]
servers = [{pool}]
''',
        encoding="utf-8",
    )
    return config
