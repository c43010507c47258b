"""The `BbbServers` port over HTTP: each BBB server's own API, with the Scalelite settings' checksum,
timeouts and size limit, and no retries (a server that does not answer is reported as such; the next
tick asks again). The simulator passes `factory` to reach its in-process servers instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.adapters.scalelite.bbb import BbbApi
from chalicelib.adapters.scalelite.observe import observe_per_server
from chalicelib.config import ScaleliteSettings
from chalicelib.domain.load import LoadSnapshot
from chalicelib.ports import BbbServer, BbbServers, ScaleliteServer

#: (url, secret, name) -> a BbbServer: how the simulator reaches the servers of its world.
ServerFactory = Callable[[str, str, "str | None"], BbbServer]


def bbb_api(s: ScaleliteSettings, url: str, secret: str, name: str | None) -> BbbApi:
    """One BBB server's API client with the Scalelite settings' checksum, timeouts and size limit."""
    return BbbApi(
        url,
        secret,
        algorithm=s.checksum,
        connect_timeout=s.connect_timeout,
        read_timeout=s.read_timeout,
        retries=0,
        max_bytes=s.max_response_bytes,
        server_name=name,
    )


class BbbServersOverHttp:
    """`server()` for one server, `poll()` for all of a list in parallel (`server_poll_concurrency`)."""

    def __init__(self, settings: ScaleliteSettings, factory: ServerFactory | None = None):
        self.settings, self.factory = settings, factory

    def server(self, url: str, secret: str, name: str | None) -> BbbServer:
        if self.factory is not None:
            return self.factory(url, secret, name)
        return bbb_api(self.settings, url, secret, name)

    def poll(self, servers: list[ScaleliteServer]) -> LoadSnapshot:
        s, factory = self.settings, self.factory
        api_for = None
        if factory is not None:
            api_for = lambda server: factory(server.url, server.secret, server.id)  # noqa: E731
        return observe_per_server(
            servers,
            s.checksum,
            s.server_poll_concurrency,
            s.connect_timeout,
            s.read_timeout,
            0,
            s.max_response_bytes,
            api_for=api_for,
        )


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[BbbServers] = BbbServersOverHttp
