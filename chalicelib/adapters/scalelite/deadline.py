"""One deadline for a whole HTTP exchange: connect, status line, headers and body.

requests' read timeout bounds each socket read, not the exchange: a server sending one header byte
every 5 s never trips a 20 s read timeout and held a tick 431 s (issue 23). So each call runs under a
`Watch`: every socket the call opens (or takes back from the pool) is registered with it, and when the
deadline passes a timer shuts those sockets down. Whatever read was blocked then returns at once (an
empty read or an error), and the transport reports the time limit. The sockets are found through the
connection classes of a requests adapter (`watched_session`), in the calling thread (a thread-local
names the call's Watch), so nothing else in the process is touched.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class Watch:
    """The sockets of one call, shut down together when its deadline passes."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._fire)
        self._timer.daemon = True

    def add(self, sock) -> None:
        if sock is None:
            return
        with self._lock:
            if self.fired:
                _shut(sock)
            else:
                self._sockets.append(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.cancel()


def _shut(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: nothing left to stop


@contextmanager
def watched(deadline: float):
    """Run the block with its sockets bound to `deadline` (nested calls keep the outer Watch)."""
    outer = getattr(_current, "watch", None)
    watch = Watch(deadline)
    _current.watch = watch
    watch.start()
    try:
        yield watch
    finally:
        watch.stop()
        _current.watch = outer


def _register(sock) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.add(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _register(sock)  # before any TLS handshake: a trickled handshake is bounded too
        return sock

    def request(self, *args, **kwargs):
        _register(self.sock)  # a kept-alive connection taken back from the pool
        return super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _register(sock)
        return sock

    def request(self, *args, **kwargs):
        _register(self.sock)
        return super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def watched_session(session: requests.Session | None = None) -> requests.Session:
    """`session` (or a new one) with adapters whose sockets obey the calling thread's `watched` block."""
    session = session or requests.Session()
    if not isinstance(session.get_adapter("http://x"), _WatchedAdapter):
        adapter = _WatchedAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session
