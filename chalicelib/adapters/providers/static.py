"""The owned pool: servers bbbscale never creates, starts or stops (mode `static`).

They are always on; `list` reports each as a running VM so the core counts them as capacity first.
Every lifecycle call raises ProviderError: power and lifetime of these machines belong to their owner.

Each server's address is its BBB API URL as configured — scheme, port and path kept — so its record,
its registration in Scalelite and the burst guard's matching of Scalelite's servers to records all use
the URL the operator wrote (a host alone would become `https://<host>/bigbluebutton/api`, which no
server behind another port or path answers at).
"""

from __future__ import annotations

import builtins
import ipaddress
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.config import ProviderSettings
from chalicelib.credentials import mask_credentials
from chalicelib.domain.fleet import VM
from chalicelib.ports import (
    PROVIDER_OPERATIONS,
    CreationProgress,
    LaunchSpec,
    Provider,
    ProviderContext,
    ProviderError,
)


class OwnedServer(BaseModel):
    """One owned server: its name (unique in the pool) and its BBB API base URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - read to check: 99999 or "x" raise ValueError
        except ValueError:
            raise ValueError(f"{mask_credentials(value)[:200]!r} has no valid port (1-65535)") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{mask_credentials(value)[:200]!r} is not an http(s) URL")
        return value


class StaticPoolOptions(BaseModel):
    """`[providers.owned.options]`: `servers = [{name = "bbb01", url = "https://bbb01.example.org/bigbluebutton/api"}]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    servers: list[OwnedServer] = Field(default_factory=list)

    @field_validator("servers")
    @classmethod
    def _unique(cls, value: list[OwnedServer]) -> list[OwnedServer]:
        seen: set[str] = set()
        for server in value:
            if server.name in seen:
                raise ValueError(f"server name {server.name!r} appears twice")
            seen.add(server.name)
        return value


class StaticPool:
    """A fixed list of always-on servers (see module doc)."""

    Options = StaticPoolOptions
    kind = "static"

    def __init__(
        self, name: str, settings: ProviderSettings, options: StaticPoolOptions, context: ProviderContext
    ):
        self.name = name
        self.settings = settings
        self.options = options
        self.context = context

    def __repr__(self) -> str:
        return f"<StaticPool {self.name!r} servers={len(self.options.servers)}>"

    def list(self) -> list[VM]:
        """Every configured server, as a running VM whose address is its API URL as configured (a
        trailing "/" aside); its `ips` the URL's host when that is an IP address."""
        tags = {"bbbscale:cluster": self.context.cluster, "bbbscale:provider": self.name}
        return [
            VM(
                self.name,
                server.name,
                server.name,
                "running",
                server.url.rstrip("/"),
                tags={**tags, "url": server.url},
                ips=_ip_of(server.url),
            )
            for server in self.options.servers
        ]

    # `list` is the method from here on: the type is spelt builtins.list (as in ports.Provider).
    def _refuse(self, operation: str) -> NoReturn:
        raise ProviderError(f"provider {self.name} is a static owned pool: it cannot {operation} servers")

    def create(self, specs: builtins.list[LaunchSpec]) -> builtins.list[VM]:
        self._refuse("create")

    def start(self, vm_id: str) -> VM:
        self._refuse("start")

    def stop(self, vm_id: str) -> None:
        self._refuse("stop")

    def destroy(self, vm_id: str) -> None:
        self._refuse("destroy")

    def calls(self, operation: str, targets: builtins.list[Any]) -> builtins.list[str]:
        """None: a static pool makes no API call (its lifecycle calls are refused)."""
        if operation not in PROVIDER_OPERATIONS:
            raise ProviderError(
                f"unknown operation {operation!r}; choose one of: {', '.join(PROVIDER_OPERATIONS)}"
            )
        return []

    def report_progress(self, to: CreationProgress | None) -> None:
        """Nothing to report: a static pool creates no server."""


def _ip_of(url: str) -> tuple[str, ...]:
    """The URL's host when it is an IP address (for DNS records), else nothing."""
    try:
        return (str(ipaddress.ip_address(urlsplit(url).hostname or "")),)
    except ValueError:
        return ()


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Provider] = StaticPool
