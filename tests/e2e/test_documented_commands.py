"""Documented commands are tests: every ```sh block of every Markdown file of the project runs as written
(conventions in tests/support/doc_commands.py and docs/deploy.md) and must exit 0.

Each block is one bash script (`set -eo pipefail`), run in a scratch directory that links to the
project's files (so `./dev`, `.venv/bin/...`, `bench/...` resolve as from the project root, while
`out/`, plots and state files land in the scratch directory), with a temporary HOME and neither AWS
credentials nor BBBSCALE_* variables from the shell. One test per block, so pytest-xdist spreads them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.doc_commands import ROOT, Block, Command, all_blocks

#: Commands not run, by what they start with (after any leading spaces), each with why.
NOT_RUN = {
    "./dev test": "runs this very test suite: it would run itself",
    ".venv/bin/chalice local": "a server that runs until stopped: tests/e2e/test_chalice_local_docs.py starts "
    "it on a free port and runs the page's curl blocks against it",
    "ansible-playbook -i": "builds the image on a VM at a provider; the playbook's syntax check runs in "
    "tests/integration/test_image_recipe.py",
}
#: Options appended to long benchmarks (argparse keeps the last value), each with why.
QUICK = {
    "bench/default_headroom.py": ("--only day --headroom 17.5", "the normal day at the default, ~15 s"),
    "bench/replay_week.py": (
        "--day --runs 1 --scale 0.4",
        "a quarter-size school's day, one replay per side: seconds, not ~6 min",
    ),
    "bench/import_app.py": (
        "--runs 2 --budget 10 --ratio 10",
        "two processes; the 0.8 s budget and 1.2x boto3 are for a quiet machine, not beside a test run",
    ),
    "bench/load_command.py": (
        "--rooms 100 --users 2000 --runs 1 --target 100",
        "a 0.6 MB answer, one process each; the 0.6x target is for the 31.6 MB one",
    ),
    "bench/provider_bulk.py": ("--count 20 --sample 2 --latency 0.05", "20 creations, not 300 at 1 s each"),
    "bench/parse_getmeetings.py": ("--rooms 100 --users 2000 --runs 1", "a 0.6 MB answer, not 31.6 MB x 7"),
    "bench/observe_servers.py": ("--servers 20 --latency 0.01 --runs 1", "20 servers, not 500"),
    "bench/hostile_load.py --shapes": (
        "--only json --no-baseline",
        "the two JSON shapes, ours only: ~2 s, not the XML ones, the baseline and its 60 s trickles",
    ),
    "bench/guard_latency.py": ("--servers 20 --latency 0.01 --runs 1", "20 servers, one run, not 500 x 3"),
    "bench/slow_getmeetings.py": (
        "--servers 20 --per-server 0.05 --read-timeout 0.3 --ticks 3",
        "a 1-s fan-out against a 0.3-s read timeout: ~12 s, not 250 servers' 63-s ticks (~6 min)",
    ),
    "bench/surge_week.py": (
        "--scale 0.05 --only-history none --skip before --skip reactive",
        "a small school's week, this tree only: seconds, not ~5 min (and no baseline to export)",
    ),
    "bbbscale trace --out out/traces": (
        "--scale 0.1",
        "a tenth of the seed's school: README's four simulations of its weeks take ~20 s, not ~150",
    ),
    "bench/surge_issue19.py": (
        "--scale 0.05 --only surge-nohist --out out/s19/quick.jsonl",
        "a small school's surge week, no history, rows apart from the figures': ~1 min, not ~40",
    ),
    "bench/guard_floor.py": ("--quick", "200 bursts per row and two look cadences: ~3 s, not ~45 s"),
    "bench/guard_frontier.py": (
        "--quick --only day --scale 0.1 --plots out/guard/plots",
        "a small school's day, poll 60 s and 20 % only; pictures in the scratch directory, not bench/plots",
    ),
}
#: Output checks for some commands (text after the command's own marker), by what the command contains.
EXPECT = {
    "bench/default_headroom.py": lambda out: "| day | 17.5 % |" in out,
    "bench/slow_getmeetings.py": lambda out: (
        "| ask every tick | 3 |" in out and "| servers first after a timeout | 3 |" in out and "| 1 |" in out
    ),
    "bench/surge_issue19.py --table": lambda out: "| surge-nohist | 8 | h19surge |" in out,
    "bbbscale simulate --trace out/traces/week.csv --policy reactive --json": lambda out: (
        json.loads(out)["policy"] == "reactive"
    ),
    "./dev demo": lambda out: "last decision" in out,
    "bench/guard_floor.py": lambda out: (
        "| Scalelite alone |" in out
        and "| all-knowing, cordon at the share |" in out
        and "| all-knowing, steer: only the fewest-roomed placeable |" in out
        and "| rooms read at each look, cordon at the share; getServers looks every 0.05 s between |" in out
    ),
    "bench/make_traces.py": lambda out: out.strip() == "out/traces",
    "bench/hostile_load.py --shapes": lambda out: '"shape": "json deep nesting", "ours"' in out,
    "bbbscale trace --out out/traces": lambda out: "week.csv" in out and "out/traces/history-3.csv" in out,
    "bench/replay_week.py": lambda out: (
        "| **ratio** |" in out and ("identical outcomes" in out or "candidate outcome:" in out)
    ),
}
MARK = "@@@ documented command "
BLOCKS = all_blocks()


def _leading(command: Command) -> str:
    return command.text.lstrip()


def _not_run(command: Command) -> str | None:
    for start, why in NOT_RUN.items():
        if _leading(command).startswith(start):
            return why
    return None


def _missing_revision(command: Command) -> str | None:
    """A revision the command names (`--baseline-rev X`, `--candidate-rev X`) that this clone lacks: a
    shallow clone has only its last commits, and the command cannot run there as written."""
    for rev in re.findall(r"--(?:baseline|candidate)-rev[ =](\S+)", command.text):
        found = subprocess.run(
            ["git", "cat-file", "-e", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True, check=False
        )
        if found.returncode != 0:
            return rev
    return None


def _with_quick_options(command: Command) -> str:
    """The command with its quick options before any trailing comment."""
    for script, (options, _) in QUICK.items():
        if script in command.text:
            code, comment = re.match(r"(.*?)(\s+#.*)?$", command.text, re.S).groups()
            return f"{code} {options}{comment or ''}"
    return command.text


def script(block: Block) -> tuple[str, list[Command]]:
    """The block's bash script and the commands it runs (the others skipped, as the conventions say)."""
    lines, run = ["set -eo pipefail"], []
    for command in block.commands:
        if command.needs or _not_run(command) or _leading(command).startswith("#"):
            continue
        if _missing_revision(command):  # a shallow clone: the history it compares is not here
            continue
        lines += [f"echo '{MARK}{len(run)}'", _with_quick_options(command)]
        run.append(command)
    return "\n".join(lines) + "\n", run


@pytest.fixture
def scratch(tmp_path) -> Path:
    """A directory that looks like the project root; what commands write stays in it."""
    work = tmp_path / "project"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name in {"out", ".pytest_cache", ".hypothesis"} or entry.suffix in {".sqlite3", ".png"}:
            continue
        (work / entry.name).symlink_to(entry)
    (tmp_path / "home").mkdir()
    return work


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BBBSCALE_", "PYTEST_"))}
    env.update(HOME=str(home), AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    env.update(AWS_EC2_METADATA_DISABLED="true", MPLBACKEND="Agg")
    return env


@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.needs], ids=lambda b: b.name)
def test_a_documented_block_runs_as_written(block, scratch):
    text, commands = script(block)
    if not commands:
        pytest.skip("every command of this block is marked or listed as not run here")
    done = subprocess.run(
        ["bash", "-c", text],
        cwd=scratch,
        env=environment(scratch.parent / "home"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    outputs = done.stdout.split(MARK)[1:]
    failed = commands[len(outputs) - 1] if outputs else commands[0]
    assert done.returncode == 0, (
        f"{failed} exited {done.returncode}\n--- stdout (end)\n{done.stdout[-3000:]}\n"
        f"--- stderr (end)\n{done.stderr[-3000:]}"
    )
    for command, output in zip(commands, outputs, strict=True):
        output = output.split("\n", 1)[1] if "\n" in output else ""
        for contains, check in EXPECT.items():
            if contains in command.text:
                assert check(output), f"{command}: unexpected output:\n{output[-2000:]}"


def test_every_exception_is_still_documented_somewhere():
    # An entry of NOT_RUN or QUICK that matches no documented command is stale: drop it.
    commands = [c for block in BLOCKS for c in block.commands]
    for start in NOT_RUN:
        assert any(_leading(c).startswith(start) for c in commands), f"NOT_RUN {start!r} matches nothing"
    for script_name in QUICK:
        assert any(script_name in c.text for c in commands), f"QUICK {script_name!r} matches nothing"


def test_the_conventions_mark_what_they_say():
    # The harness must not run what the docs mark as needing the cloud, and must run the rest.
    marked = [c for block in BLOCKS for c in block.commands if c.needs]
    assert any("aws " in _leading(c) for c in marked)
    ran = [c for block in BLOCKS if not block.needs for c in script(block)[1]]
    assert not any(_leading(c).startswith(("aws ", "chalice deploy")) for c in ran)
    assert any("bbbscale simulate" in c.text for c in ran) and any("./dev demo" in c.text for c in ran)
