"""The configuration README.md shows (its ```toml blocks) is one the settings model accepts, with the
values its comments give: an operator copies it as it is."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from chalicelib.config_file import load_settings, parse_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[dict]:
    return [
        tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    ]


def test_every_toml_block_of_the_readme_is_a_valid_configuration():
    blocks = _blocks()
    assert blocks, "README.md shows a configuration"
    for block in blocks:
        parse_settings(block, "README.md's configuration")  # strict: an unknown or invalid key fails


def test_the_readme_shows_the_burst_guard_as_it_ships():
    defaults = load_settings().guard.model_dump()
    for block in _blocks():
        for key, value in block.get("guard", {}).items():
            assert defaults[key] == value, (
                f"[guard] {key}: README says {value}, the default is {defaults[key]}"
            )
