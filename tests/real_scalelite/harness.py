"""The real Scalelite on loopback, from a checkout, on Debian's own Ruby packages.

How (docs/scalelite-and-bbb.md, "The real Scalelite in the loop"): the checkout named by
BBBSCALE_SCALELITE_CHECKOUT (a Scalelite source tree, e.g. tag v1.6.1) is copied into a temporary
directory, its Gemfile cut down to the gems Debian packages (rails, puma, connection_pool, redis,
redis-namespace, pg, bootsnap, jwt, without versions) and locked with `bundle lock --local`. A private
PostgreSQL (initdb/pg_ctl as the postgres user: we may be root) and a private Redis listen on free
loopback ports in that directory; then `rake db:create db:schema:load`, puma and the poller
`rake poll[N]`, each on 127.0.0.1. `REDIS_NAMESPACE=''`: Debian's redis-namespace 1.9.0 does not prefix
commands inside multi/pipelined, so with a namespace every updateServer after addServer answers 400.
`stop()` ends every process it started (by its own pid) and removes the directory.

Nothing here knows about BBB servers: the scenario tests put the simulator's own BBB servers over HTTP
(bbbsim/bbb_http.py) behind it and register them through Scalelite's admin API.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from tests.real_scalelite.prerequisites import CHECKOUT_VAR, GEMS, free_port, pg_bin, unavailable
from tests.real_scalelite.resp import read_reply

_SAVED = re.compile(r"Server id=(\S+) (?:online|offline) load: ")  # poll.rake, after each save!

__all__ = ["CHECKOUT_VAR", "HarnessError", "RealScalelite", "unavailable"]


class HarnessError(RuntimeError):
    """The real Scalelite did not come up; the message names the step and the log's last lines."""


class RealScalelite:
    """One real Scalelite (API + poller) with its own PostgreSQL and Redis. Use as a context manager.

    `poll_interval_s` is the poller's sleep after each round (`rake poll[N]`); `env` adds Scalelite
    settings (e.g. POLLER_THREADS). `url` is Scalelite's BBB API, `admin_url` its server admin API."""

    def __init__(
        self, checkout: str | Path, poll_interval_s: float = 60.0, env: dict[str, str] | None = None
    ):
        self.checkout = Path(checkout)
        self.poll_interval_s = poll_interval_s
        self.secret = secrets.token_hex(20)
        self.extra_env = dict(env or {})
        self.root: Path | None = None
        self.redis_port = 0
        self.pg_port = 0
        self.port = 0
        self._procs: dict[str, subprocess.Popen] = {}
        self._pg_data: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bigbluebutton/api"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/scalelite/api"

    @property
    def version(self) -> str:
        """The checkout's tag or commit, for the figures (git describe; the directory name otherwise)."""
        described = subprocess.run(
            ["git", "-C", str(self.checkout), "describe", "--tags", "--always"],
            capture_output=True,
            text=True,
            check=False,
        )
        return described.stdout.strip() or self.checkout.name

    def __enter__(self) -> RealScalelite:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- start ------------------------------------------------------------------------------------
    def start(self) -> RealScalelite:
        self.root = Path(tempfile.mkdtemp(prefix="bbbscale-scalelite-"))
        self.root.chmod(0o755)  # the postgres user must reach its data directory
        app = self.root / "app"
        shutil.copytree(
            self.checkout, app, ignore=shutil.ignore_patterns(".git", "log", "tmp", "spec", "test")
        )
        (app / "log").mkdir()
        (app / "tmp").mkdir()
        self._trim_gemfile(app)
        self._start_postgres()
        self._start_redis()
        env = self._env()
        self._run(["bundle", "exec", "rake", "db:create", "db:schema:load"], app, env, "db")
        self.port = free_port()
        self._spawn(
            "puma",
            ["bundle", "exec", "puma", "-b", f"tcp://127.0.0.1:{self.port}", "config.ru"],
            app,
            {**env, "BIND": f"tcp://127.0.0.1:{self.port}"},
        )
        self._wait_for_api()
        self.start_poller()
        return self

    def _trim_gemfile(self, app: Path) -> None:
        """Only the gems the API and the poller use, unpinned: Debian's versions are older than the
        tag's pins (puma 5.6 for ~> 6.4, jwt 2.5 for ~> 2.7, bootsnap 1.13 for >= 1.16)."""
        lines = ["source 'https://rubygems.org'", ""]
        lines += [f"gem '{gem}'" + (", require: false" if gem == "bootsnap" else "") for gem in GEMS]
        (app / "Gemfile").write_text("\n".join(lines) + "\n")
        (app / "Gemfile.lock").unlink(missing_ok=True)
        self._run(["bundle", "lock", "--local"], app, self._bundle_env(), "bundle lock --local")

    def _start_postgres(self) -> None:
        assert self.root is not None
        data = self.root / "pg"
        data.mkdir()
        shutil.chown(data, "postgres", "postgres")
        self._pg_data = data
        initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        self._run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(initdb),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            self.root,
            None,
            "initdb",
        )
        self.pg_port = free_port()
        options = f"-p {self.pg_port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(pg_ctl),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(data / "log"),
                "-w",
                "start",
            ],
            self.root,
            None,
            "pg_ctl start",
        )

    def _start_redis(self) -> None:
        assert self.root is not None
        (self.root / "redis").mkdir()
        self.redis_port = free_port()
        self._spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root / "redis"),
            ],
            self.root,
            None,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.redis("PING") == "PONG":
                    return
            except OSError:
                time.sleep(0.05)
        raise HarnessError("redis-server did not answer PING")

    def start_poller(self) -> None:
        """`rake poll[N]`: a round (poll:servers, poll:meetings, poll:versions), then N seconds' sleep."""
        assert self.root is not None
        interval = f"{self.poll_interval_s:g}"
        self._spawn("poller", ["bundle", "exec", "rake", f"poll[{interval}]"], self.root / "app", self._env())

    def stop_poller(self) -> None:
        self._end("poller")

    # --- environment ---------------------------------------------------------------------------------
    def _bundle_env(self) -> dict[str, str]:
        assert self.root is not None
        return {
            **os.environ,
            "BUNDLE_GEMFILE": str(self.root / "app" / "Gemfile"),
            "BUNDLE_APP_CONFIG": str(self.root / "bundle"),
            "HOME": str(self.root),
        }

    def _env(self) -> dict[str, str]:
        return {
            **self._bundle_env(),
            "RAILS_ENV": "production",
            "SECRET_KEY_BASE": secrets.token_hex(64),
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.pg_port}/scalelite",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}",
            "REDIS_NAMESPACE": "",
            "LOADBALANCER_SECRET": self.secret,
            "RECORDING_DISABLED": "true",
            "RAILS_LOG_TO_STDOUT": "true",
            "RAILS_MAX_THREADS": "8",
            **self.extra_env,
        }

    # --- processes -----------------------------------------------------------------------------------
    def _log(self, name: str) -> Path:
        assert self.root is not None
        return self.root / f"{name}.log"

    def _run(self, argv: list[str], cwd: Path, env: dict[str, str] | None, step: str) -> None:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
            raise HarnessError(f"{step} failed (exit {done.returncode}):\n{tail}")

    def _spawn(self, name: str, argv: list[str], cwd: Path, env: dict[str, str] | None) -> None:
        log = self._log(name).open("ab")
        self._procs[name] = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def _wait_for_api(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self._procs["puma"]
            if proc.poll() is not None:
                raise HarnessError(f"puma exited ({proc.returncode}):\n{self.log_tail('puma')}")
            try:
                if requests.get(self.url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise HarnessError(f"Scalelite's API did not answer in {timeout} s:\n{self.log_tail('puma')}")

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self._log(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def _end(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: bundle exec and the ruby under it
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def stop(self) -> None:
        """Stop the poller, puma, Redis and PostgreSQL (each by its own pid), then remove the directory."""
        for name in ("poller", "puma", "redis"):
            self._end(name)
        if self._pg_data is not None and (self._pg_data / "postmaster.pid").exists():
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    str(pg_bin("pg_ctl")),
                    "-D",
                    str(self._pg_data),
                    "-m",
                    "immediate",
                    "stop",
                ],
                capture_output=True,
                check=False,
                timeout=60,
            )
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # --- Redis, read directly ----------------------------------------------------------------------------
    def redis(self, *command: str):
        """One Redis command over RESP (no client library in the locks): str, int, None or a list."""
        with socket.create_connection(("127.0.0.1", self.redis_port), timeout=5) as conn:
            parts = [f"*{len(command)}\r\n".encode()]
            for arg in command:
                data = str(arg).encode()
                parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
            conn.sendall(b"".join(parts))
            return read_reply(conn.makefile("rb"))

    def is_poller(self, port: int) -> bool:
        """Whether the loopback TCP connection from local `port` belongs to the poller (`rake poll`, and
        any process of its session), not to puma: read from /proc (the socket's inode, then the
        processes holding it)."""
        proc = self._procs.get("poller")
        if proc is None:
            return False
        inode = _socket_inode(port)
        if inode is None:
            return False
        held = f"socket:[{inode}]"
        for pid in _session_pids(proc.pid):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == held:
                        return True
                except OSError:
                    continue
        return False

    def reset(self) -> None:
        """A clean slate for the next scenario: Redis emptied and every Scalelite connection to it dropped.
        FLUSHALL alone is not one: v1.6.1's `Server#save!` with nothing to write (a load unchanged since
        the last round, poll:versions saving the same version) leaves `WATCH servers` open on its pooled
        connection (redis-rb 4.8 sends no MULTI/EXEC for an empty transaction). FLUSHALL and each
        addServer touch `servers`, so the next save that does write on such a connection is aborted
        ("Servers list concurrently modified"): one server left unsaved by a later round, at random,
        as the poller's pool carries such connections from scenario to scenario. redis-rb reopens a
        dropped connection at its next command, watching nothing."""
        self.redis("FLUSHALL")
        self.redis("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")

    def poller_log_size(self) -> int:
        """Where the poller's log ends now: `saved_since` reads what it says after it."""
        path = self._log("poller")
        return path.stat().st_size if path.exists() else 0

    def saved_since(self, offset: int) -> set[str]:
        """The ids of the servers the poller saved after `offset` of its log: `poll:servers` logs
        "Server id=ID online|offline load: L" once `Server#save!` has written the record (v1.6.1's
        lib/tasks/poll.rake, its `ensure`), so after that line the server's state, load and place in
        `server_load` are what the round made them."""
        path = self._log("poller")
        if not path.exists():
            return set()
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        return set(_SAVED.findall(text))

    def placement(self) -> dict[str, float]:
        """Scalelite's placement set `server_load` (id -> load): the servers a create can go to."""
        flat = self.redis("ZRANGE", "server_load", "0", "-1", "WITHSCORES")
        return {flat[i]: float(flat[i + 1]) for i in range(0, len(flat), 2)}


def _socket_inode(port: int) -> str | None:
    """The inode of the IPv4 TCP socket whose local port is `port` (/proc/net/tcp, ports in hex)."""
    wanted = f":{port:04X}"
    try:
        with open("/proc/net/tcp", encoding="ascii") as table:
            next(table)
            for line in table:
                fields = line.split()
                if fields[1].endswith(wanted):
                    return fields[9]
    except OSError:
        return None
    return None


def _session_pids(session: int) -> list[int]:
    """The processes of session `session` (the poller is started in a session of its own)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # after the command: state, ppid, pgrp, session
            pids.append(int(entry))
    return pids
