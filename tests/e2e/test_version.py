"""The version an operator reads, from one source (`chalicelib.__version__`): `bbbscale --version`, the
`version` field of `tick --json`, every Lambda log line, the package metadata, and CHANGELOG.md's entry
for it."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from chalicelib import __version__, observability
from tests.support.cli_runs import run_main, run_program

ROOT = Path(__file__).resolve().parents[2]


def test_the_version_is_semantic_and_the_package_metadata_reads_it_from_the_code():
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "chalicelib.__version__"}


def test_bbbscale_version_prints_the_version_and_exits_0():
    done = run_program("--version")
    assert (done.status, done.out, done.err) == (0, f"bbbscale {__version__}\n", "")


def test_the_tick_document_says_which_version_decided(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing lands in the checkout, whatever the state's place
    result = run_main(capsys, "tick", "--dry-run", "--json").document()
    assert result["version"] == __version__
    assert {"at", "dry_run", "load", "desired", "fleet", "actions"} <= set(result)  # extended, not changed


def test_every_lambda_log_line_carries_the_version(capfd):
    observability.logger.info("capacity check")
    line = json.loads(capfd.readouterr().err.strip().splitlines()[-1])
    assert (line["service"], line["version"]) == ("bbbscale", __version__)


def test_the_changelog_has_an_unreleased_section_and_an_entry_for_this_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", text, flags=re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert __version__ in headings, f"CHANGELOG.md has no '## [{__version__}] - DATE' entry"
    assert re.search(
        rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, flags=re.MULTILINE
    )
