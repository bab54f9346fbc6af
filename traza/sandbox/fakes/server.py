"""Run an ASGI app with uvicorn in a background thread on 127.0.0.1 and an ephemeral port.

Usage::

    with ServerThread(app) as server:
        httpx.get(server.url + "/health")

The fakes (:class:`traza.sandbox.fakes.slack.FakeSlack`, :class:`traza.sandbox.fakes.graph.FakeGraph`)
wrap this runner, so tests normally write ``with FakeSlack() as slack: ...``.

Also provides :func:`wait_for`, a polling helper for assertions on state that another thread or
process (the product running as a subprocess) changes asynchronously.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TypeVar

import uvicorn
from starlette.types import ASGIApp

__all__ = ["FakeServer", "ServerThread", "wait_for"]

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 5.0,
    interval: float = 0.02,
    message: str | None = None,
) -> T:
    """Poll ``predicate`` until it returns a truthy value and return that value.

    Raises ``AssertionError`` (so pytest shows it as a failed assertion) after ``timeout`` seconds.
    Exceptions raised by the predicate propagate immediately.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", "predicate")
            raise AssertionError(f"wait_for timed out after {timeout:.1f}s: {what}")
        time.sleep(interval)


class ServerThread:
    """uvicorn serving ``app`` in a daemon thread; ``.url`` is known once :meth:`start` returns."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        name: str = "fake-server",
        startup_timeout: float = 10.0,
    ) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self.name = name
        self.startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        """The bound TCP port (raises if the server is not running)."""
        if self._port is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without trailing slash, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        """Bind, start serving, and block until the port accepts TCP connections. Idempotent."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        sock.listen(128)
        sock.set_inheritable(True)
        self._port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self._port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=5,
        )
        server = uvicorn.Server(config)
        self._server = server

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # pragma: no cover - surfaced by start()
                self._error = exc
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} failed to start") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start within {self.startup_timeout}s")
            time.sleep(0.005)
        self._wait_accepting(deadline)
        return self

    def _wait_accepting(self, deadline: float) -> None:
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit and join the thread. Safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout)
        self._thread = None
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class FakeServer:
    """Base class for the fakes: owns a :class:`ServerThread` serving ``self.app``.

    Subclasses set ``self.app`` (an ASGI app) and ``self._lock`` in ``__init__``.
    """

    app: ASGIApp
    _runner: ServerThread | None = None

    def start(self) -> Self:
        """Start serving on 127.0.0.1:<ephemeral port>; returns self. Idempotent."""
        if self._runner is None:
            self._runner = ServerThread(self.app, name=type(self).__name__).start()
        return self

    def stop(self) -> None:
        """Stop the server thread (state is kept, so tests can still assert after stopping)."""
        if self._runner is not None:
            self._runner.stop()
            self._runner = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if self._runner is None:
            raise RuntimeError(f"{type(self).__name__} is not started; call start() first")
        return self._runner.url

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Poll ``predicate`` until truthy (see :func:`wait_for`)."""
        return wait_for(predicate, timeout=timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
