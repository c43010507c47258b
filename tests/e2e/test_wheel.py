"""The package as an adopter gets it: the wheel built from the source alone, installed into a clean
virtual environment (no system site-packages, nothing of this checkout on its path) with the locked
runtime dependencies, answers `bbbscale --version` and `bbbscale plan` exactly as the tree does.

The locked wheels come from pip's cache after the first run, so the test costs seconds, not a download."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from chalicelib import __version__
from tests.support.cli_runs import run_main

ROOT = Path(__file__).resolve().parents[2]
#: What the wheel is built from: the project's metadata and the package, nothing else of the checkout.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "chalicelib")


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


def test_the_wheel_installs_into_a_clean_venv_and_runs_as_the_tree_does(tmp_path, capsys):
    wheel = build_wheel(tmp_path)
    assert wheel.name == f"bbbscale-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"bbbscale-{__version__}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        licence = archive.read(f"{info}/licenses/LICENSE").decode()
    assert f"\nVersion: {__version__}\n" in metadata and "\nLicense-Expression: EUPL-1.2\n" in metadata
    assert licence == (ROOT / "LICENSE").read_text() and "EUROPEAN UNION PUBLIC LICENCE v. 1.2" in licence
    assert "chalicelib/default.toml" in names and "chalicelib/cli.py" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "app.py", "infra/"))]

    # A clean environment: its own interpreter prefix, no pip of its own (this one installs into it).
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    python = str(env / "bin" / "python")
    pip("--python", python, "install", "--require-hashes", "-r", str(ROOT / "requirements.txt"), cwd=tmp_path)
    pip("--python", python, "install", "--no-deps", str(wheel), cwd=tmp_path)
    pip("--python", python, "check", cwd=tmp_path)  # the wheel's dependencies are met by the runtime lock

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BBBSCALE_", "VIRTUAL_ENV"))}
    bbbscale = str(env / "bin" / "bbbscale")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [bbbscale, *args], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120
        )

    where = subprocess.run(
        [python, "-c", "import chalicelib; print(chalicelib.__file__)"],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.startswith(str(env)), where.stdout + where.stderr

    version = run("--version")
    assert (version.returncode, version.stdout) == (0, f"bbbscale {__version__}\n"), version.stderr
    plan = run("plan", "--users", "1000", "--json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout) == run_main(capsys, "plan", "--users", "1000", "--json").document()
