"""The settings models' common ground: every section is strict (unknown keys, text for numbers,
`inf` and `nan` refused), and weekday tables read from TOML keyed by numbers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def weekday_keys(value):
    """TOML table keys are strings: a weekday table's "0".."6" are read as the numbers they are (the
    models are strict, so nothing else turns text into a number)."""
    if isinstance(value, dict):
        return {
            int(k) if isinstance(k, str) and k.isascii() and k.isdigit() else k: v for k, v in value.items()
        }
    return value
