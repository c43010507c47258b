"""The root of bbbscale's own errors, at the ground floor so that every layer can raise one.

Each error bbbscale reports is one clear line (never a traceback): the CLI exits 1 or 2 with it, the
handlers answer with it. Port errors (chalicelib/ports.py) and ConfigError (chalicelib/config.py)
derive from it; they live with what raises them, this base lives below them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class BbbscaleError(Exception):
    """Base of every error bbbscale reports as one clear line."""


def one_line(text: str, limit: int) -> str:
    """`text` as one line of at most `limit` characters: whitespace runs (a server's line breaks) folded,
    the end cut with an ellipsis. Errors reach a terminal, the history and chat this way."""
    said = " ".join(text.split())
    return said if len(said) <= limit else said[: limit - 1] + "…"


def validation_message(found: Mapping[str, Any]) -> str:
    """One of pydantic's `errors()` as people read it: its message without pydantic's "Value error, "
    (what a validator raised is already a sentence)."""
    return str(found.get("msg", "")).removeprefix("Value error, ")
