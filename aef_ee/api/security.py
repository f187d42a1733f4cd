"""The API's front door, as Jupyter's: a Host allow-list (DNS rebinding), a bearer token, and a body size limit.

One pure ASGI middleware, so that a refused request never reaches FastAPI's routing or body parsing:

- the ``Host`` header must name an allowed host (loopback by default), else 403;
- ``Authorization: Bearer <token>`` or ``?token=<token>`` must carry the token (compared in constant time), else
  401 — unless the settings turn authentication off (tests);
- a body longer than the limit (by ``Content-Length`` or while streaming) is refused with 413.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from aef_ee.api.settings import ApiSettings

__all__ = ["SecurityMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class _BodyTooLargeError(Exception):
    pass


class SecurityMiddleware:
    def __init__(self, app: App, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings
        self._token = (settings.token or "").encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = _host_name(headers.get("host", ""))
        if host not in self.settings.allowed_hosts:
            await _error(send, 403, "forbidden_host", f"Host {headers.get('host', '')!r} is not allowed; the API "
                         "answers only requests addressed to " + ", ".join(self.settings.allowed_hosts))
            return
        if self.settings.auth and scope.get("method") != "OPTIONS" and not self._authorised(scope, headers):
            await _error(send, 401, "unauthorized", "missing or wrong token: send 'Authorization: Bearer <token>' "
                         "or '?token=<token>' with the token printed when the API started",
                         {"www-authenticate": "Bearer"})
            return
        limit = self.settings.max_body_bytes
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _error(send, 413, "body_too_large", f"the request body has {length} bytes; the limit is {limit}")
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLargeError
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await _error(send, 413, "body_too_large", f"the request body is over the limit of {limit} bytes")

    def _authorised(self, scope: Scope, headers: dict[str, str]) -> bool:
        supplied = ""
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            supplied = auth[7:].strip()
        else:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            supplied = (query.get("token") or [""])[0]
        return bool(supplied) and hmac.compare_digest(supplied.encode(), self._token)


def _host_name(host: str) -> str:
    """The name of a Host header, without its port ("[::1]:8000" -> "::1")."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _error(send: Send, status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
