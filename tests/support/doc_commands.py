"""The shell commands the documentation shows, as the documentation-is-tested harness reads them.

The convention (docs/deploy.md, "Documented commands are tests"):
- every fenced block opened with ```sh (or ```bash, ```shell) in a Markdown file of the project is run,
  in order, as one bash script;
- a line whose trailing comment ends with `needs: WHAT` (`# needs: aws`, `# look first (needs: your
  fleet's configuration)`) is not run by the harness (WHAT says what it needs that a test machine has
  not: aws, a Scalelite, your fleet's configuration, ...); a block whose first
  line is such a comment is not run at all, except `# needs: chalice local` blocks, which
  tests/e2e/test_chalice_local_docs.py runs against a real `chalice local --stage local`;
- an indented code block (lines indented by 4 spaces or more after a blank line, outside a fence) whose
  first line starts like a command (`.venv/bin/`, `./`, `bench/`, `bbbscale `, `python`, `curl `,
  `aws `) is a shell block too, so a command shown that way is run as well;
- a backslash at the end of a line continues the command on the next.
New Markdown files are picked up as they come; nothing needs registering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELLS = {"sh", "bash", "shell"}
NEEDS = re.compile(r"#[^#]*?\bneeds:\s*(?P<what>[^#]+?)\s*$")
SKIPPED_DIRS = {".venv", ".git", "node_modules", "out", "tests", ".chalice", ".pytest_cache"}


@dataclass(frozen=True)
class Command:
    """One command as written (continuation lines joined by their newline), where it is, what it needs."""

    path: Path
    line: int
    text: str

    @property
    def needs(self) -> str | None:
        found = NEEDS.search(self.text.splitlines()[-1]) or NEEDS.search(self.text.splitlines()[0])
        if not found:
            return None
        what = found.group("what")
        return what[:-1] if what.endswith(")") and what.count(")") > what.count("(") else what

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.text}"


@dataclass(frozen=True)
class Block:
    """One fenced shell block: its file, the line of its opening fence and its commands."""

    path: Path
    line: int
    commands: tuple[Command, ...]

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def needs(self) -> str | None:
        """What the whole block needs, when its first line is a `# needs:` comment."""
        first = self.commands[0] if self.commands else None
        return first.needs if first and first.text.lstrip().startswith("#") else None


def markdown_files(root: Path = ROOT) -> list[Path]:
    """Every Markdown file of the project (README.md, docs/, bench/, infra/, ...), sorted."""
    return sorted(
        path
        for path in root.rglob("*.md")
        if not any(part in SKIPPED_DIRS or part.startswith(".") for part in path.relative_to(root).parts[:-1])
    )


#: How the first line of an indented code block starts when it shows a command.
COMMAND_START = re.compile(r"(\.venv/bin/|\./|bench/|bbbscale |python|curl |aws )")


def blocks(path: Path) -> list[Block]:
    """The shell blocks of one Markdown file: fenced ones, then indented ones, in file order."""
    text = path.read_text(encoding="utf-8").splitlines()
    return sorted(_fenced(path, text) + _indented(path, text), key=lambda block: block.line)


def _indented(path: Path, text: list[str]) -> list[Block]:
    """Indented code blocks that show commands (outside fences, after a blank line)."""
    found: list[Block] = []
    in_fence, previous_blank, lines = False, True, []
    for number, raw in enumerate([*text, ""], start=1):
        if raw.strip().startswith("```"):
            in_fence = not in_fence
        indented = raw.startswith("    ") and raw.strip() and not in_fence
        if indented and (lines or previous_blank):
            lines.append((number, raw[4:]))
        elif lines and not raw.strip() and number <= len(text):
            lines.append((number, ""))  # a blank line inside the block
        elif lines:
            while lines and not lines[-1][1].strip():
                lines.pop()
            if COMMAND_START.match(lines[0][1].strip()):
                found.append(Block(path, lines[0][0], tuple(_commands(path, lines))))
            lines = []
        previous_blank = not raw.strip()
    return found


def _fenced(path: Path, text: list[str]) -> list[Block]:
    found: list[Block] = []
    fence: str | None = None
    opened, lines = 0, []
    for number, raw in enumerate(text, start=1):
        stripped = raw.strip()
        if fence is None:
            if stripped.startswith("```"):
                fence, opened, lines = stripped[3:].strip().lower(), number, []
            continue
        if stripped.startswith("```"):
            if fence in SHELLS:
                found.append(Block(path, opened, tuple(_commands(path, lines))))
            fence = None
            continue
        lines.append((number, raw))
    return found


def _commands(path: Path, lines: list[tuple[int, str]]) -> list[Command]:
    commands: list[Command] = []
    pending: list[str] = []
    start = 0
    for number, raw in lines:
        if not pending:
            if not raw.strip():
                continue
            start = number
        pending.append(raw)
        if raw.rstrip().endswith("\\"):
            continue
        commands.append(Command(path, start, "\n".join(pending)))
        pending = []
    if pending:
        commands.append(Command(path, start, "\n".join(pending)))
    return commands


def all_blocks(root: Path = ROOT) -> list[Block]:
    return [block for path in markdown_files(root) for block in blocks(path)]
