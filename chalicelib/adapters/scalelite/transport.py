"""HTTP to BBB-style APIs: timeouts, bounded retries, streamed bodies, error text without secrets.

Shared by the BBB client (`bbb.py`) and the Scalelite client (`client.py`). A call is retried (with
exponential backoff) only on what may pass — connection faults, timeouts, HTTP 5xx — never on an
answer: a FAILED or a 4xx comes back at once. Error messages name the target (a server id or host) and
the call, never the URL: its query string holds the checksum.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar
from urllib.parse import urlsplit

import requests
import urllib3
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from chalicelib.adapters.scalelite.deadline import watched, watched_session
from chalicelib.adapters.scalelite.xml_stream import ByteBudget, size_text
from chalicelib.ports import ResponseError, UnreachableError

log = logging.getLogger(__name__)
T = TypeVar("T")


class Transient(Exception):
    """A fault worth another try. `connect` is True when the request surely never reached the server
    (so even a non-idempotent call may be sent again)."""

    def __init__(self, reason: str, connect: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.connect = connect


TIMED_OUT = (
    "read timeout",
    "connect timeout",
    "answer too slow",
)  # the Transient reasons of no answer in time


def _reason(outcome: Future | None) -> str:
    """Why a retried attempt failed: its Transient's reason (only Transient faults are retried, so
    tenacity's outcome holds one whenever it sleeps or gives up)."""
    fault = outcome.exception() if outcome is not None else None
    return fault.reason if isinstance(fault, Transient) else str(fault)


def target_of(url: str) -> str:
    """host[:port] of a URL: how errors and logs name a server when it has no id (never the netloc:
    it may hold user:password)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "server"
    return f"{host}:{port}" if port else host


class _TimedBody(ByteBudget):
    """The body, cut off at a total deadline: requests' read timeout bounds each socket read, so a
    server dripping a byte every few seconds would otherwise hold a tick forever."""

    def __init__(self, source, max_bytes: int, what: str, deadline: float):
        super().__init__(source, max_bytes, what)
        self._deadline = deadline

    def _pull(self, size: int) -> bytes:
        if time.monotonic() > self._deadline:
            raise _BodyTooSlow()
        # read1: whatever has arrived (read(n) would wait for n bytes, past the deadline).
        pull = getattr(self._source, "read1", None) or self._source.read
        chunk = pull(size)
        if not chunk and time.monotonic() >= self._deadline:
            raise _BodyTooSlow()  # the deadline's watchdog shut the socket: not a real end of body
        return chunk


class _BodyTooSlow(TimeoutError):
    pass


def _network_fault(error: BaseException) -> Transient:
    # Describe by type only: str() of a requests error carries the full URL, checksum included.
    if isinstance(error, _BodyTooSlow):
        return Transient("answer too slow: total time limit passed")
    if isinstance(error, requests.ConnectTimeout):
        return Transient("connect timeout", connect=True)
    if isinstance(error, (requests.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return Transient("read timeout")
    if isinstance(error, requests.ConnectionError):
        cause = error.args[0] if error.args else None
        reason = getattr(cause, "reason", cause)
        if isinstance(reason, urllib3.exceptions.NameResolutionError):  # a NewConnectionError too
            return Transient("host name not resolved", connect=True)
        refused = isinstance(reason, urllib3.exceptions.NewConnectionError)
        return Transient("connection refused" if refused else "connection failed", connect=refused)
    return Transient(f"network fault ({type(error).__name__})")


def _late(error: BaseException) -> str:
    """Why a call that ran out of time stopped: its connect, or (the deadline's watchdog having shut the
    socket mid-answer) an answer still coming."""
    if isinstance(error, requests.ConnectTimeout):
        return "connect timeout"
    return "the answer was still coming"


class Transport:
    """Calls for one target. `consume(response, body)` reads the answer: `body` is the streamed,
    size-limited, decompressed body as a binary file-like; 5xx never reaches it (retried, then
    UnreachableError). The whole call, retries included, must finish within `total_timeout` (default:
    connect timeout + 3 x read timeout), however steadily the server trickles bytes or long it hangs:
    one deadline for the whole exchange (connect, status line, headers, body: `deadline.py` shuts the
    call's sockets when it passes), so a hostile server holds a tick that long at most, and the error
    says so."""

    def __init__(
        self,
        target: str,
        connect_timeout: float = 3.0,
        read_timeout: float = 20.0,
        retries: int = 2,
        max_bytes: int = 256 * 1024 * 1024,
        session: requests.Session | None = None,
        backoff: float = 0.5,
        total_timeout: float | None = None,
    ):
        self.target = target
        self.timeout = (connect_timeout, read_timeout)
        self.total_timeout = total_timeout or connect_timeout + 3 * read_timeout  # per attempt
        self.retries = retries
        self.max_bytes = max_bytes
        self.session = watched_session(session)
        self.backoff = backoff

    def call(
        self,
        what: str,
        method: str,
        url: str,
        consume: Callable[[requests.Response, ByteBudget], T],
        json_body: dict | None = None,
        idempotent: bool = True,
    ) -> T:
        """Send one request (retrying what may pass) and return what `consume` makes of the answer."""
        attempts = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff, max=self.backoff * 8),
            retry=retry_if_exception_type(Transient),
            # info, not warning: a failed call says so once, in its error; the tries are detail.
            before_sleep=lambda state: log.info(
                "%s: %s: %s; trying again", self.target, what, _reason(state.outcome)
            ),
            reraise=False,
        )
        deadline = time.monotonic() + self.total_timeout
        try:
            with watched(deadline):
                return self._attempts(attempts, what, method, url, consume, json_body, idempotent, deadline)
        except RetryError as error:
            reason = _reason(error.last_attempt)
            if reason == "read timeout":  # name the limit that stopped it
                reason = f"read timeout: no byte for {self.timeout[1]:g} s"
            raise UnreachableError(
                f"{self.target}: {what} failed after {self.retries + 1} attempt(s) ({reason})",
                timed_out=reason.startswith(TIMED_OUT),
            ) from None

    def _attempts(self, attempts, what, method, url, consume, json_body, idempotent, deadline):
        for attempt in attempts:
            with attempt:
                if attempt.retry_state.attempt_number > 1 and time.monotonic() >= deadline:
                    raise self._too_slow(what, "no time left to try again")
                try:
                    return self._once(what, method, url, consume, json_body, deadline)
                except Transient as fault:
                    if not idempotent and not fault.connect:
                        raise UnreachableError(
                            f"{self.target}: {what} failed ({fault.reason}); "
                            "not retried, the server may have acted on it"
                        ) from None
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - Retrying always returns or raises

    def _too_slow(self, what: str, why: str) -> UnreachableError:
        return UnreachableError(
            f"{self.target}: {what} answer took longer than the {self.total_timeout:g} s time limit "
            f"(connect_timeout + 3 x read_timeout; {why})",
            timed_out=True,
        )

    def _once(self, what, method, url, consume, json_body, deadline):
        left = deadline - time.monotonic()
        timeout = (min(self.timeout[0], max(left, 0.01)), min(self.timeout[1], max(left, 0.01)))
        try:
            response = self.session.request(
                method, url, json=json_body, timeout=timeout, stream=True, allow_redirects=False
            )
        except requests.RequestException as error:
            if time.monotonic() >= deadline:
                raise self._too_slow(what, _late(error)) from None
            raise _network_fault(error) from None
        try:
            if response.status_code >= 500:
                raise Transient(f"HTTP {response.status_code}")
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                raise ResponseError(
                    f"{self.target}: {what} answer is larger than the {size_text(self.max_bytes)} limit "
                    f"(declared {length} bytes)"
                )
            response.raw.decode_content = True  # gzip is counted after inflating: no decompression bombs
            body = _TimedBody(response.raw, self.max_bytes, f"{self.target}: {what} answer", deadline)
            return consume(response, body)
        except _BodyTooSlow:
            raise self._too_slow(what, "the answer was still coming") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            if time.monotonic() >= deadline:
                raise self._too_slow(what, _late(error)) from None
            raise _network_fault(error) from None
        finally:
            response.close()


def expect_ok(transport: Transport, what: str, response: requests.Response) -> None:
    """BBB answers every API call with HTTP 200 (FAILED included); anything else is no answer."""
    if response.status_code != 200:
        moved = response.headers.get("Location") if 300 <= response.status_code < 400 else None
        where = f" to {_moved_to(moved)} (redirects are not followed: configure that URL)" if moved else ""
        raise UnreachableError(f"{transport.target}: {what} answered HTTP {response.status_code}{where}")


def _moved_to(location: str) -> str:
    """A redirect's target as an error may say it: scheme, host, port and path; never its query (the
    checksum) nor any user:password."""
    parts = urlsplit(location.strip()[:2000])
    host = target_of(location) if parts.hostname else ""
    path = parts.path.split(";")[0][:200]
    return f"{parts.scheme}://{host}{path}" if parts.scheme and host else (path or "another URL")
