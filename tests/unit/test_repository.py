"""The repository stands on its own: nothing in it points at files kept outside it (a sibling `shared/`
folder, a machine's absolute paths). What the code relies on is written down in docs/ (contract.md,
scalelite-and-bbb.md)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"(?<![\w/.\[])(CONTRACT|REFERENCE|STYLE)\.md|\.\./shared/|/work/(main|shared|h\d)")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [
        ROOT / name
        for name in listed.stdout.split()
        if Path(name).suffix
        in {".py", ".md", ".toml", ".xml", ".json", ".yaml", ".yml", ".cfg", ".txt", ".sh", ""}
    ]


def test_no_reference_points_outside_the_repository():
    found = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue
        found += [
            f"{path.relative_to(ROOT)}:{n}"
            for n, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)
        ]
    assert found == [], "references to files outside the repository: " + ", ".join(found)


def test_the_documents_the_code_points_to_exist():
    assert (ROOT / "docs" / "contract.md").is_file() and (ROOT / "docs" / "scalelite-and-bbb.md").is_file()
