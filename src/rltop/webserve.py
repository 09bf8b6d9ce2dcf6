"""The web server behind ``rltop serve``: textual-serve's server with a guard in front of it.

textual-serve answers a browser tab with a page running xterm.js; the page opens a websocket and
the server starts one app process per websocket (``AppService``: the command in a shell, its
stdout/stdin carried over the socket). So each tab is its own ``rltop`` reading the same logs.

Only ``rltop serve`` imports this module (it needs the ``serve`` extra): a terminal ``rltop``
never loads aiohttp or textual-serve.

The guard (an aiohttp middleware) refuses with 403:
- with a token, any request that carries neither ``?token=T`` nor the cookie set on the first
  request that did (the page's own websocket and static URLs are built by textual-serve's
  script, which appends ``?width=..`` to the websocket URL, so they cannot carry the query);
- on a loopback address, any request whose ``Host`` is not a loopback name (DNS rebinding: a web
  page that makes its own name resolve to 127.0.0.1 would otherwise read the dashboard);
- a websocket opened by a page of another origin (cross-site websocket hijacking: browsers let
  any page open a websocket to localhost).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import re
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import hdrs, web
from textual_serve.server import Server, to_int

log = logging.getLogger("rltop.serve")

#: what a token given on the command line may contain: it goes into URLs and a cookie as it is
TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]+")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, no port) is this machine only."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(netloc: str) -> str:
    """``localhost:8080`` -> ``localhost``, ``[::1]:80`` -> ``::1``."""
    return urlsplit("//" + netloc).hostname or ""


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


def make_guard(token: str | None, *, loopback_only: bool, cookie_name: str) -> Any:
    """The middleware that refuses (403) what the module docstring lists."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if loopback_only and not is_loopback(_hostname(request.host)):
            raise web.HTTPForbidden(
                text="rltop serve listens on loopback: open it as localhost or 127.0.0.1\n"
            )
        if request.headers.get(hdrs.UPGRADE, "").lower() == "websocket":
            origin = request.headers.get(hdrs.ORIGIN)
            if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
                raise web.HTTPForbidden(text="websocket from another origin\n")
        if token is None:
            return await handler(request)
        given = request.query.get("token")
        if given is None:
            if not _same(request.cookies.get(cookie_name, ""), token):
                raise web.HTTPForbidden(text="rltop serve: this page needs ?token=... in its URL\n")
            return await handler(request)
        if not _same(given, token):
            raise web.HTTPForbidden(text="rltop serve: wrong token\n")
        response = await handler(request)
        if not response.prepared:  # a websocket is under way already: nothing more to send
            # the page's own requests (script, styles, websocket) then pass without the query
            response.set_cookie(cookie_name, token, httponly=True, samesite="Strict", path="/")
        return response

    return guard


class RltopServer(Server):
    """textual-serve's ``Server`` with the guard, URLs taken from the request, and quiet logs."""

    def __init__(
        self,
        command: str,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
        title: str = "rltop",
        banner: str = "",
    ) -> None:
        super().__init__(command, host=host, port=port, title=title)
        self.token = token
        self.banner = banner
        self.loopback_only = is_loopback(host)
        # cookies ignore the port: two servers on one machine must not read each other's
        self.cookie_name = f"rltop_token_{port}"

    @property
    def open_url(self) -> str:
        """The URL to print: the one address a browser on this machine (or a tunnel) opens."""
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        query = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(
            make_guard(self.token, loopback_only=self.loopback_only, cookie_name=self.cookie_name)
        )
        return app

    async def on_startup(self, app: web.Application) -> None:
        """Nothing: textual-serve prints its logo here, before the port is even bound."""

    def announce(self, *_args: object) -> None:
        """The one line a user needs, the URL, once the server listens."""
        print(self.banner or f"rltop serve: open {self.open_url}", flush=True)

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        """The page, with its websocket URL on the host and port the browser used: through an
        SSH tunnel to another local port, ``--host``/``--port`` are not what the browser sees."""
        scheme = "wss" if request.secure else "ws"
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{scheme}://{request.host}/ws",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},
        }

    def serve(self, debug: bool = False) -> None:
        """Serve until Ctrl+C, SIGTERM or SIGHUP, then end every tab's rltop; no per-request log
        (the URLs carry the token)."""
        self.debug = debug
        logging.basicConfig(level=logging.WARNING, format="rltop serve: %(message)s")
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # SIGHUP too: the SSH session that started it (ssh -t -L ... rltop serve) has closed
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)):
            with contextlib.suppress(NotImplementedError):  # Windows
                loop.add_signal_handler(sig, self.request_exit)
        web.run_app(
            self._make_app(),
            host=self.host,
            port=self.port,
            handle_signals=False,
            loop=loop,
            access_log=None,
            shutdown_timeout=5.0,
            print=self.announce,  # aiohttp calls it once the sockets listen
        )
