"""docs/chat-and-webhook.md as a reader follows it: its `chalice local --stage local` command started as
written (on a free loopback port instead of 8000), its secrets exported by its own `export` line, and
its `curl` blocks run as written by bash against that real server. Checked: the status codes they print
and what they leave in the stage's SQLite file (the reservation, the commands with who asked, the
follow-up check)."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time

import pytest

from chalicelib.adapters.state.sqlite import SqliteStateStore
from tests.support.doc_commands import ROOT, blocks

PAGE = ROOT / "docs" / "chat-and-webhook.md"


def page_blocks():
    found = blocks(PAGE)
    [server] = [b for b in found if any("chalice local --stage local" in c.text for c in b.commands)]
    clients = [b for b in found if (b.needs or "").startswith("chalice local")]
    return server, clients


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def exported(server) -> dict[str, str]:
    """The variables the page's `export` line sets."""
    [line] = [c.text for c in server.commands if c.text.startswith("export ")]
    return dict(word.split("=", 1) for word in shlex.split(line)[1:])


@pytest.fixture
def chalice_local(tmp_path):
    """(base URL, environment, state file) of a running `chalice local --stage local`; stopped after."""
    server, _ = page_blocks()
    [start] = [c.text for c in server.commands if "chalice local" in c.text]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BBBSCALE_"))}
    env.update(exported(server))
    env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        BBBSCALE_STATE_PATH=str(tmp_path / "state.sqlite3"),
    )
    log = (tmp_path / "chalice-local.log").open("w")
    process = subprocess.Popen(
        ["bash", "-c", "exec " + start.replace("--port 8000", f"--port {port}")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "chalice-local.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "chalice local did not listen within 90 s"
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}", env, tmp_path / "state.sqlite3"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def run_block(block, url: str, env: dict) -> list[str]:
    """The block as one bash script, as written; the lines it printed."""
    script = "set -eo pipefail\n" + "\n".join(c.text for c in block.commands)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={**env, "URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{block.name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout.splitlines()


def test_the_pages_curls_answer_as_documented_and_change_the_store(chalice_local):
    url, env, state = chalice_local
    _, (closure, cancel, chat) = page_blocks()

    first = run_block(closure, url, env)
    assert first[-1] == "202" and '"closure-2027-03-15-zone-b"' in first[0]
    assert run_block(closure, url, env)[-1] == "200"  # the same announcement again: stored once

    printed = run_block(chat, url, env)
    assert [line for line in printed if line.isdigit()] == ["200", "200"], printed

    store = SqliteStateStore(str(state), cluster="demo")
    assert [r.id for r in store.reservations.reservations()] == ["closure-2027-03-15-zone-b"]
    cancelled = run_block(cancel, url, env)  # the documented signed DELETE (issue 23: method and path signed)
    assert cancelled[-1] == "200" and '"cancelled": true' in cancelled[0].replace('":true', '": true')
    assert store.reservations.reservations() == []
    commands = [entry.summary for entry in store.history.recent(20, kind="command")]
    assert any(s.startswith("alice: status") for s in commands), commands
    assert any(s.startswith("bob: help") for s in commands), commands
    deadline = time.monotonic() + 60  # the closure's follow-up check runs on the server's thread
    while not store.history.recent(1, kind="tick"):
        assert time.monotonic() < deadline, "no capacity check followed the announcement"
        time.sleep(0.5)
