"""Serving an ASGI application (the Telegram webhook, the web console, or both in one server) with
uvicorn, on a socket bound before serving starts."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from starlette.types import ASGIApp


class CannotListen(OSError):
    """The address is in use, or not this machine's, or the port is not ours to take."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, bound now: a port in use is known before serving, and a
    connection made before the server runs waits in the backlog instead of being refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except OSError as error:
        sock.close()
        raise CannotListen(error.errno, f"cannot listen on {host}:{port} ({error.strerror})") from error
    sock.set_inheritable(True)
    return sock


async def serve_http(app: ASGIApp, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve ``app`` on ``sock`` until ``stop`` is set; requests under way get 5 seconds to finish.
    Nothing of a request reaches the log (no access log: paths name cases)."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            proxy_headers=True,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving
