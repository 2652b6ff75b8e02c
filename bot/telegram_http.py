"""The bot's HTTP client for the Bot API: python-telegram-bot's ``BaseRequest`` on aiohttp.

PTB's own client is httpx (``HTTPXRequest``). On the Telegram benchmark's machine a ``sendMessage``
through it costs about 1.5 ms of processor time, against 0.7 ms through aiohttp (``bench/README.md``:
httpcore looks over its whole pool, through anyio, whenever a request starts or ends), and sending is
about half of what a turn costs the bot. PTB's documented way to use another HTTP library is a
``BaseRequest`` subclass, as its maintainers' ``ptbcontrib.aiohttp_request`` is; this one keeps
``HTTPXRequest``'s timeouts and meaning: a request that runs out of time is ``TimedOut``, any other
failure of the connection ``NetworkError`` (what the delivery's retries expect), and a proxy named
in the environment (``HTTPS_PROXY``) is used as httpx uses it.
"""

from __future__ import annotations

import urllib.request
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """Bot API requests over up to ``connections`` pooled connections. The timeouts are
    ``HTTPXRequest``'s and mean the same: ``pool_timeout`` waiting for a free connection,
    ``connect_timeout`` opening one, ``read_timeout`` between bytes of the answer; ``write_timeout``
    (``media_write_timeout`` for an upload) bounds sending, as part of the whole request's limit,
    which is their sum (aiohttp has no timeout for writing alone)."""

    def __init__(
        self,
        *,
        connections: int = 1,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._connections = connections
        self._timeouts = (connect_timeout, read_timeout, write_timeout, pool_timeout)
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts[1]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # Built here, in the running event loop, and again after a shutdown.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self.USER_AGENT},
                # A proxy the environment names (HTTPS_PROXY, NO_PROXY) is used, as httpx uses it;
                # aiohttp looks the environment up on every request (half of a call's cost), so only
                # when there is one to find.
                trust_env=bool(urllib.request.getproxies()),
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        uploads = request_data is not None and request_data.contains_files
        connect, read, write, pool = (
            default if given is BaseRequest.DEFAULT_NONE else given
            for given, default in zip(
                (connect_timeout, read_timeout, write_timeout, pool_timeout), self._timeouts, strict=True
            )
        )
        if uploads and write_timeout is BaseRequest.DEFAULT_NONE:
            write = self._media_write_timeout
        timeout = aiohttp.ClientTimeout(
            total=_sum(connect, read, write, pool),
            connect=_sum(pool, connect),  # aiohttp's: a connection from the pool, opened if need be
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """The parameters as a form (URL-encoded), or as a multipart form with the files to upload."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        return request_data.json_parameters
    # Names as they are (UTF-8), as httpx sends them and Telegram shows them: aiohttp would send
    # 报告.pdf percent-encoded, and the person would read "%E6%8A%A5%E5%91%8A.pdf".
    form = aiohttp.FormData(request_data.json_parameters, quote_fields=False)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form


def _sum(*limits: float | None) -> float | None:
    """The limits added up; none when any of them is none (no limit)."""
    return None if any(limit is None for limit in limits) else sum(limit or 0.0 for limit in limits)
