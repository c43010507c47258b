"""The closure webhook's body as a pydantic model (see closures.py).

Its own module so that closures.py, which app.py imports, does not bring pydantic into every cold start:
the model is imported when a body is validated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.errors import validation_message


class Announcement(BaseModel):
    """The webhook body (docs/contract.md, HTTP surface). Unknown fields are refused so a typo is not
    silently ignored. Times without an offset are read in the configured timezone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    starts_at: datetime
    ends_at: datetime
    expected_users: int = Field(ge=1, le=10_000_000, strict=True)  # "15000" (a string) is refused
    zone: Literal["A", "B", "C"] | None = None  # the French school-holiday zones
    note: str | None = Field(None, max_length=500)

    @field_validator("starts_at", "ends_at", mode="before")
    @classmethod
    def _iso_text(cls, value):
        # pydantic reads a number as unix seconds; the contract says ISO-8601: 1700000000 is refused
        if not isinstance(value, str):
            raise ValueError("must be an ISO-8601 date-time string, e.g. 2027-03-15T08:00:00+01:00")
        return value

    @field_validator("expected_users", mode="before")
    @classmethod
    def _whole_number(cls, value):
        # JSON true is an int to pydantic's lax mode; a user count must be a real number
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        return value


def field_error(error: ValidationError) -> str:
    """Every invalid field at once, each as `field: message` (`body: ...` when it is the whole body)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in found['loc']) or 'body'}: {validation_message(found)}"
        for found in error.errors()
    )
