"""Time limits of a request (spec/protocol.md 3.3): headers that never finish close the connection;
a body that pauses too long, or trickles in slower than MIN_RATE, is answered 408 `timeout`.

Headers are uvicorn's to read, so their limit is a protocol class (`evlog server` passes it to
uvicorn); the body's is an ASGI middleware wrapped around the app's `receive`.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Dict, Optional

from .config import ServerConfig
from .errors import ApiError

MIN_RATE = 1024  # bytes per second a body must average once it has taken body_timeout seconds


def timed_out(message: str) -> ApiError:
    return ApiError(408, "timeout", message)


def _base_protocol() -> type:
    """The HTTP protocol uvicorn picks by default: httptools when installed, else h11."""
    try:
        import httptools  # noqa: F401

        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


class HeaderTimeoutProtocol(_base_protocol()):  # type: ignore[misc]
    """uvicorn's protocol, closing a connection whose request headers are not complete within
    EVLOG_SERVER_HEADER_TIMEOUT seconds of the connection or of the previous answer (data that
    trickles in does not restart the clock, unlike uvicorn's keep-alive timer)."""

    header_timeout: Optional[float] = None

    def connection_made(self, transport: Any) -> None:  # noqa: D102
        super().connection_made(transport)
        self._arm_header_timer()

    def on_response_complete(self) -> None:  # noqa: D102
        super().on_response_complete()
        self._arm_header_timer()

    def connection_lost(self, exc: Optional[Exception]) -> None:  # noqa: D102
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        cls = type(self)
        if cls.header_timeout is None:
            cls.header_timeout = float(ServerConfig.from_env().header_timeout)
        old = getattr(self, "_header_timer", None)
        if old is not None:
            old.cancel()
        waiting_after = self.cycle  # a new request's headers, once complete, make a new cycle
        self._header_timer = self.loop.call_later(cls.header_timeout, self._headers_late, waiting_after)

    def _headers_late(self, waiting_after: Any) -> None:
        if self.cycle is waiting_after and not self.transport.is_closing():
            self.transport.close()


class BodyTimeout:
    """ASGI middleware: a request body that pauses over `idle` seconds, or averages under MIN_RATE
    bytes per second once it has taken `idle` seconds, ends in 408 `timeout` (the app's error
    answer; the connection is closed after it)."""

    def __init__(self, app: Callable[..., Awaitable[None]], idle: float) -> None:
        self.app = app
        self.idle = idle

    async def __call__(self, scope: Dict[str, Any], receive: Callable[[], Awaitable[Dict[str, Any]]],
                       send: Callable[[Dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        start = loop.time()
        got = 0
        done = False
        idle = self.idle

        async def timed_receive() -> Dict[str, Any]:
            nonlocal got, done
            if done:  # past the body: a wait for the client's disconnect, which may be long
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), idle)
            except asyncio.TimeoutError:
                raise timed_out(f"the request body stalled: nothing came for {idle:g} s") from None
            if message["type"] != "http.request":
                done = True
                return message
            got += len(message.get("body", b""))
            if not message.get("more_body", False):
                done = True
                return message
            elapsed = loop.time() - start
            if elapsed > idle and got < elapsed * MIN_RATE:
                raise timed_out(f"the request body comes in at under {MIN_RATE} bytes per second")
            return message

        async def closing_send(message: Dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 408:
                message = dict(message, headers=list(message.get("headers", [])) + [(b"connection", b"close")])
            await send(message)

        await self.app(scope, timed_receive, closing_send)
