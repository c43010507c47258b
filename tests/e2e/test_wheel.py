"""The package as an adopter gets it: the wheel built from the source alone, installed into a clean
virtual environment (no system site-packages, nothing of this checkout on its path) with the locked
runtime dependencies, answers `bbbscale --version` and `bbbscale plan` exactly as the tree does, and
runs `demo`, `trace` + `simulate --plot` and `tick --dry-run` from an empty directory, leaving nothing
there but what it was asked to write. It installs as `bbbscale` (no top-level `chalicelib` to collide
with another Chalice app) beside the simulator `bbbsim`, which the entry point `bbbscale.plugins:
simulator` plugs in (its imports renamed too); without the `plot` extra, a picture is refused in one line
naming it.

The locked wheels come from pip's cache after the first run, so the test costs seconds, not a download
(the replays are short: the demo's first half hour, a small school's day)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from chalicelib import __version__
from tests.support.cli_runs import run_main

ROOT = Path(__file__).resolve().parents[2]
#: What the wheel is built from: the project's metadata and the package, nothing else of the checkout.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "chalicelib", "bbbsim")


def pip(*args: str, cwd: Path) -> None:
    """This environment's pip (the locked one); `--python` points it at another environment."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"pip {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    # The locked setuptools of this environment builds it (no isolated build environment to download).
    pip(
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        str(tmp_path / "dist"),
        str(source),
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    return wheel


def plot_lock(tmp_path: Path) -> Path:
    """The `plot` extra's part of the dev lock (matplotlib and what it needs, with their hashes)."""
    blocks: dict[str, tuple[str, set[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements-dev.txt").read_text()):
        found = re.match(r"([A-Za-z0-9_.\-]+)==", block)
        if found:
            name = found.group(1).lower()
            via = set(re.findall(r"#\s+(?:via\s+)?([A-Za-z0-9_.\-]+)", block))
            blocks[name] = (block, {v.lower() for v in via})
    wanted, grew = {"matplotlib"}, True
    while grew:
        more = {name for name, (_, via) in blocks.items() if via & wanted} - wanted
        wanted |= more
        grew = bool(more)
    path = tmp_path / "plot-lock.txt"
    path.write_text("\n".join(blocks[name][0] for name in sorted(wanted)) + "\n")
    return path


def test_the_wheel_installs_into_a_clean_venv_and_runs_as_the_tree_does(tmp_path, capsys):
    wheel = build_wheel(tmp_path)
    assert wheel.name == f"bbbscale-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"bbbscale-{__version__}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        licence = archive.read(f"{info}/licenses/LICENSE").decode()
        scripts = archive.read(f"{info}/entry_points.txt").decode()
        registry = archive.read("bbbscale/registry.py").decode()
        simulator = "".join(
            archive.read(n).decode() for n in names if n.startswith("bbbsim/") and n.endswith(".py")
        )
    assert f"\nVersion: {__version__}\n" in metadata and "\nLicense-Expression: EUPL-1.2\n" in metadata
    assert 'Requires-Dist: matplotlib>=3.8; extra == "plot"' in metadata
    assert licence == (ROOT / "LICENSE").read_text() and "EUROPEAN UNION PUBLIC LICENCE v. 1.2" in licence
    assert "bbbscale/default.toml" in names and "bbbscale/cli.py" in names
    assert not [n for n in names if not n.startswith(("bbbscale/", "bbbsim/", info + "/"))], "two packages"
    assert "bbbscale = bbbscale.cli:main" in scripts and "chalicelib" not in registry
    assert "[bbbscale.plugins]\nsimulator = bbbsim.plugin:SIMULATOR" in scripts
    assert "bbbsim/plugin.py" in names and "from bbbscale." in simulator and "chalicelib" not in simulator

    # A clean environment: its own interpreter prefix, no pip of its own (this one installs into it).
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    python = str(env / "bin" / "python")
    pip("--python", python, "install", "--require-hashes", "-r", str(ROOT / "requirements.txt"), cwd=tmp_path)
    pip("--python", python, "install", "--no-deps", str(wheel), cwd=tmp_path)
    pip("--python", python, "check", cwd=tmp_path)  # the wheel's dependencies are met by the runtime lock

    empty = tmp_path / "empty"
    empty.mkdir()
    state = tmp_path / "xdg-state"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BBBSCALE_", "VIRTUAL_ENV"))}
    clean.update(XDG_STATE_HOME=str(state), MPLBACKEND="Agg")
    bbbscale = str(env / "bin" / "bbbscale")

    def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [bbbscale, *args], cwd=empty, env=clean, capture_output=True, text=True, timeout=timeout
        )

    where = subprocess.run(
        [python, "-c", "import bbbscale; print(bbbscale.__file__)\nimport chalicelib"],
        cwd=empty,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.startswith(str(env)), where.stdout + where.stderr
    assert "No module named 'chalicelib'" in where.stderr

    version = run("--version")
    assert (version.returncode, version.stdout) == (0, f"bbbscale {__version__}\n"), version.stderr
    plan = run("plan", "--users", "1000", "--json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout) == run_main(capsys, "plan", "--users", "1000", "--json").document()

    tick = run("tick", "--dry-run", "--json")
    assert tick.returncode == 0, tick.stderr
    assert json.loads(tick.stdout)["dry_run"] is True
    assert (state / "bbbscale" / "bbbscale.sqlite3").exists()
    assert not list(empty.iterdir()), "tick --dry-run left files in the working directory"

    traces = run("trace", "--out", "traces", "--only", "day.csv", "--scale", "0.05", "--json")
    assert traces.returncode == 0, traces.stderr
    assert json.loads(traces.stdout)["traces"]["day.csv"]["sessions"] > 0
    refused = run("simulate", "--trace", "traces/day.csv", "--plot", "day.png")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "pip install 'bbbscale[plot]'" in refused.stderr

    pip("--python", python, "install", "--require-hashes", "-r", str(plot_lock(tmp_path)), cwd=tmp_path)
    simulated = run("simulate", "--trace", "traces/day.csv", "--plot", "day.png")
    assert simulated.returncode == 0, simulated.stderr[-2000:]
    assert "None" not in simulated.stdout and "cost_vs_oracle" in simulated.stdout
    assert (empty / "day.png").read_bytes().startswith(b"\x89PNG")
    demo = run("demo", "--quiet", "--end", "07:45")
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "overloaded server-minutes" in demo.stdout and "burst guard: on" in demo.stdout
    assert sorted(p.name for p in empty.iterdir()) == ["bbbscale-demo.png", "day.png", "traces"]
