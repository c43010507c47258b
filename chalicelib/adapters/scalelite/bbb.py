"""One BBB server (or Scalelite's BBB-compatible API) reached over its API: the BbbServer port.

Used to poll a server directly — its health, its own meetings when Scalelite's getMeetings fails, and
its recordings still being processed before it may be stopped — and, by the Scalelite client, for
Scalelite's own getMeetings (the same API, with the load balancer's secret).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chalicelib.adapters.scalelite.checksum import ALGORITHMS, signed_query
from chalicelib.adapters.scalelite.parse import parse_index, parse_meetings, parse_recordings_pending
from chalicelib.adapters.scalelite.transport import Transport, expect_ok, target_of
from chalicelib.domain.load import LoadSnapshot
from chalicelib.ports import BbbscaleError, BbbServer

_INDEX_LIMIT = 1024 * 1024  # the version answer is a few hundred bytes


class BbbApi:
    """A BBB API at `base_url` (`https://host/bigbluebutton/api`), signed with `secret`.

    Errors: ApiError for a FAILED answer (never retried), ResponseError for an untrustworthy answer,
    UnreachableError for network faults, timeouts and HTTP errors once `retries` more tries (with
    backoff) failed. Nothing raised, logged or repr'd holds the secret or a checksum.
    """

    def __init__(
        self,
        base_url: str,
        secret: str,
        algorithm: str = "sha256",
        connect_timeout: float = 3.0,
        read_timeout: float = 20.0,
        retries: int = 2,
        max_bytes: int = 256 * 1024 * 1024,
        session=None,
        server_name: str | None = None,
        backoff: float = 0.5,
    ):
        if algorithm not in ALGORITHMS:
            raise ValueError(
                f"unsupported checksum algorithm {algorithm!r}; choose one of {sorted(ALGORITHMS)}"
            )
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"BBB API URL must be http(s), got scheme {urlsplit(base_url).scheme!r}")
        self.base_url = base_url.rstrip("/")
        self.server_name = server_name
        self._secret = secret
        self._algorithm = algorithm
        self._max_bytes = max_bytes
        self._transport = Transport(
            server_name or target_of(base_url),
            connect_timeout,
            read_timeout,
            retries,
            max_bytes,
            session,
            backoff,
        )

    def __repr__(self) -> str:
        from chalicelib.credentials import mask_credentials

        return f"BbbApi({mask_credentials(self.base_url)!r}, server_name={self.server_name!r})"

    def _url(self, call: str, params: dict[str, str] | None = None) -> str:
        return f"{self.base_url}/{call}?{signed_query(call, params, self._secret, self._algorithm)}"

    def meetings(self) -> LoadSnapshot:
        """Every meeting on this API (Meeting.server = server_name). FAILED -> ApiError: a scaler must
        never read a failed call as "no load"."""

        def consume(response, body):
            expect_ok(self._transport, "getMeetings", response)
            return parse_meetings(body, self._max_bytes, server=self.server_name)

        return self._transport.call("getMeetings", "GET", self._url("getMeetings"), consume)

    def recordings_pending(self) -> int:
        """Recordings not yet transferred to Scalelite (any state but deleted: the image's transfer deletes
        a recording once it is in Scalelite's spool): a server holding some must not be destroyed yet.
        BBB's getRecordings `state` filter takes a comma-separated list (without it: published ones only)."""

        def consume(response, body):
            expect_ok(self._transport, "getRecordings", response)
            return parse_recordings_pending(body, self._max_bytes)

        url = self._url("getRecordings", {"state": "processing,processed,published,unpublished"})
        return self._transport.call("getRecordings", "GET", url, consume)

    def version(self) -> str | None:
        """The BBB version the API index reports (`bbbVersion`, BBB 2.5+), else its API `version`."""

        def consume(response, body):
            expect_ok(self._transport, "API index", response)
            return parse_index(body, min(self._max_bytes, _INDEX_LIMIT))

        top = self._transport.call("API index", "GET", self.base_url, consume)
        return top.get("bbbVersion") or top.get("version") or None

    def healthy(self) -> bool:
        """True when the API index answers SUCCESS (no checksum: the server is up) AND a signed
        getMeetings succeeds (our secret and algorithm are accepted, the meeting service answers)."""
        try:
            self.version()
            self.meetings()
        except BbbscaleError:
            return False
        return True


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[BbbServer] = BbbApi
