"""A ProviderContext and ProviderSettings for adapter tests: secrets from a dict, a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.config import ProviderSettings
from chalicelib.ports import ProviderContext

MASTER_KEY = "master-key-for-tests-0123456789"
SECRETS = {"BBBSCALE_SERVER_SECRET_KEY": MASTER_KEY, "BBBSCALE_TURN_SECRET": "turn-secret-xyz"}


def context(cluster: str = "demo", **secrets: str) -> ProviderContext:
    table = {**SECRETS, **secrets}
    return ProviderContext(
        cluster=cluster, now=lambda: datetime(2026, 11, 23, 8, tzinfo=UTC), secret=table.get
    )


def settings(kind: str, mode: str = "create", image: str = "bbb-3.0-prepared", **options) -> ProviderSettings:
    return ProviderSettings(kind=kind, mode=mode, image=image, options=options)
