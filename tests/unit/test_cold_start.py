"""Each entry point imports only what it uses (bench/import_app.py and bench/load_command.py measure the
time): `import app` brings neither pydantic, slack_sdk nor any cloud SDK — each handler imports what it
needs on first use — and `bbbscale load --file` reaches no network library. Checked in fresh interpreters.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pydantic", "slack_sdk", "boto3", "libcloud", "lxml", "requests", "chalicelib.config")
NETWORK = ("boto3", "libcloud", "requests", "slack_sdk", "chalice")


def imported_after(code: str) -> set[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_import_app_leaves_every_heavy_library_to_the_handler_that_needs_it():
    loaded = imported_after("import app")
    assert "chalice" in loaded and "chalicelib.service.closures" in loaded  # the routes are all there
    assert sorted(m for m in HEAVY if m in loaded) == []


def test_load_from_a_file_reaches_no_network_library():
    fixture = ROOT / "tests" / "fixtures" / "bbb" / "get_meetings_docs_example.xml"
    code = (
        "import contextlib, io\nfrom chalicelib.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    assert main(['load', '--file', {str(fixture)!r}]) == 0"
    )
    loaded = imported_after(code)
    assert "lxml.etree" in loaded
    assert sorted(m for m in NETWORK if m in loaded) == []
