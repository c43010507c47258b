"""Observe load server by server when Scalelite's getMeetings cannot.

Scalelite's getMeetings polls every online enabled/cordoned server in turn and, if ANY of them errors,
answers FAILED internalError for the whole fleet (bigbluebutton_api_controller.rb#get_meetings,
docs/scalelite-and-bbb.md). One sick server must not blind the scaler; FAILED is never "no load": so
we ask each of those servers directly (secrets from getServers), in parallel, and mark the snapshot
incomplete when some could not be read — a partial snapshot may justify scaling up, never down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests

from chalicelib.adapters.scalelite.bbb import BbbApi
from chalicelib.domain.load import LoadSnapshot, Meeting
from chalicelib.ports import BbbscaleError, BbbServer, ScaleliteServer

log = logging.getLogger(__name__)

POLLED_STATES = frozenset({"enabled", "cordoned"})  # as Scalelite's own getMeetings


def observe_per_server(
    servers: list[ScaleliteServer],
    algorithm: str = "sha256",
    concurrency: int = 32,
    connect_timeout: float = 3.0,
    read_timeout: float = 20.0,
    retries: int = 1,
    max_bytes: int = 256 * 1024 * 1024,
    session_factory: Callable[[], requests.Session] | None = None,
    backoff: float = 0.5,
    api_for: Callable[[ScaleliteServer], BbbServer] | None = None,
) -> LoadSnapshot:
    """Poll getMeetings on every online enabled/cordoned server, at most `concurrency` at a time.
    Each Meeting carries its server's id; each server that failed is one line in `problems` (its id
    and the reason, never its secret) and makes the snapshot incomplete. `api_for` builds the BbbServer
    port for a server (default: BbbApi over HTTP; the in-process simulator passes its own)."""
    polled = [s for s in servers if s.online and s.state in POLLED_STATES]
    factory = session_factory or requests.Session
    local = threading.local()  # requests.Session is not thread-safe: one per worker thread
    sessions: list[requests.Session] = []

    def http_api(server: ScaleliteServer) -> BbbApi:
        if not hasattr(local, "session"):
            local.session = factory()
            sessions.append(local.session)
        return BbbApi(
            server.url,
            server.secret,
            algorithm,
            connect_timeout,
            read_timeout,
            retries,
            max_bytes,
            session=local.session,
            server_name=server.id,
            backoff=backoff,
        )

    def poll(server: ScaleliteServer) -> tuple[ScaleliteServer, LoadSnapshot | BbbscaleError]:
        try:
            api = (api_for or http_api)(server)
            return server, api.meetings()
        except BbbscaleError as error:
            return server, error
        except ValueError as error:  # a URL Scalelite accepted but we cannot call
            return server, BbbscaleError(f"{server.id}: {error}")

    meetings: list[Meeting] = []
    problems: list[str] = []
    if polled:
        with ThreadPoolExecutor(
            max_workers=max(1, min(concurrency, len(polled))), thread_name_prefix="observe"
        ) as pool:
            for server, outcome in pool.map(poll, polled):
                if isinstance(outcome, LoadSnapshot):
                    meetings.extend(outcome.meetings)
                else:
                    problems.append(_problem(server, outcome))
        for session in sessions:
            session.close()
    for problem in problems:
        log.warning("per-server observation: %s", problem)
    return LoadSnapshot(
        meetings=tuple(meetings), complete=not problems, problems=tuple(problems), from_servers=True
    )


def _problem(server: ScaleliteServer, error: BbbscaleError) -> str:
    text = str(error).replace(server.secret, "***") if server.secret else str(error)
    return text if text.startswith(f"{server.id}:") else f"{server.id}: {text}"
