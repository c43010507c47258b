"""The settings models' common ground: every section is strict (unknown keys, text for numbers,
`inf` and `nan` refused), and weekday tables read from TOML keyed by numbers."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


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


def _secret_name(value: str) -> str:
    """A `*_env` field names where a secret is (an environment variable, or the SSM / Secrets Manager
    parameter it maps to), never the secret: a value that is no such name is refused without being
    repeated (it may be the secret itself, written in the wrong place)."""
    if not _SECRET_NAME.fullmatch(value):
        raise ValueError(
            "must name an environment variable (upper-case letters, digits and _, e.g. "
            "BBBSCALE_SCALELITE_SECRET), not hold the secret itself; the value is not repeated here"
        )
    return value


_SECRET_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")

#: The name of a secret (`secret_env`, `password_env`, ...): upper-case, as environment variables are.
SecretName = Annotated[str, AfterValidator(_secret_name)]
