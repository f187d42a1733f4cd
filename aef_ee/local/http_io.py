"""Reading requests off a socket within limits: a deadline for every read and a streamed, size-checked body.

A client that announces 1000 bytes and sends 10, or sends its headers one byte a minute, must not hold a server
thread for ever: :class:`DeadlineReader` gives each ``recv`` only the time left until the request's deadline.
:func:`read_body` reads a ``Content-Length`` or ``Transfer-Encoding: chunked`` body and stops at the size limit
while it streams in (a chunked body announces no size), so a body is never buffered past the limit.
"""

from __future__ import annotations

import io
import socket
import time
from email.message import Message
from typing import BinaryIO

from aef_ee.local.errors import InvalidArgument, RequestTimeout, RequestTooLarge

__all__ = ["DeadlineReader", "read_body", "announced_length", "has_body"]

# A chunk-size line is hex digits and optional extensions; a longer line is not HTTP.
_MAX_CHUNK_LINE = 1024
_MAX_TRAILERS = 64
# Content-Length values past 19 digits overflow an int64; refusing them also keeps int() cheap.
_MAX_LENGTH_DIGITS = 19


class DeadlineReader(io.RawIOBase):
    """A socket's input that raises ``TimeoutError`` once ``deadline`` (``time.monotonic()`` seconds) passes."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.deadline = float("inf")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the client did not send its request in time")
        self._sock.settimeout(min(remaining, 3600.0))
        return self._sock.recv_into(buffer)


def has_body(headers: Message) -> bool:
    """Whether the request announces a body (a Content-Length above 0, or a Transfer-Encoding)."""
    if headers.get("Transfer-Encoding"):
        return True
    value = (headers.get("Content-Length") or "").strip()
    return bool(value) and value != "0" and value.strip("0") != ""


def announced_length(headers: Message) -> int | None:
    """The body size the Content-Length header announces (None without one).

    Raises:
      InvalidArgument: a malformed value (signs, spaces inside, more than 19 digits, differing repeats).
    """
    values = headers.get_all("Content-Length") or []
    if not values:
        return None
    texts = {v.strip() for v in values}
    if len(texts) != 1:
        raise InvalidArgument(f"Conflicting Content-Length headers: {sorted(texts)[:4]}.")
    text = texts.pop()
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_LENGTH_DIGITS:
        raise InvalidArgument(f"Invalid Content-Length {text[:40]!r}: expected a number of bytes.")
    return int(text)


def read_body(rfile: BinaryIO, headers: Message, *, limit: int) -> bytes:
    """The request body, read as it streams in and refused as soon as it passes ``limit`` bytes.

    Raises:
      RequestTooLarge: the announced or received body is over ``limit`` ("Request payload size exceeds the
        limit: N bytes.", Earth Engine's words).
      InvalidArgument: malformed framing (a bad Content-Length, both it and Transfer-Encoding, an encoding
        other than chunked, a bad chunk) or a body shorter than announced.
      RequestTimeout: the client stopped sending before the read deadline (from the reader's TimeoutError).
    """
    encodings = [e.strip().lower() for v in headers.get_all("Transfer-Encoding") or [] for e in v.split(",")]
    length = announced_length(headers)
    try:
        if encodings:
            if length is not None:
                raise InvalidArgument("A request may not have both Content-Length and Transfer-Encoding.")
            if encodings != ["chunked"]:
                raise InvalidArgument(f"Unsupported Transfer-Encoding {', '.join(encodings)[:80]!r}; only chunked.")
            return _read_chunked(rfile, limit)
        if not length:
            return b""
        if length > limit:
            raise RequestTooLarge(_too_large(limit))
        data = rfile.read(length)
        if len(data) < length:
            raise InvalidArgument(f"The request body ended after {len(data)} of the {length} bytes announced.")
        return data
    except TimeoutError:
        raise RequestTimeout("The client did not send the request body in time.") from None


def _too_large(limit: int) -> str:
    return f"Request payload size exceeds the limit: {limit} bytes."


def _read_chunked(rfile: BinaryIO, limit: int) -> bytes:
    body = bytearray()
    while True:
        line = rfile.readline(_MAX_CHUNK_LINE + 1)
        if len(line) > _MAX_CHUNK_LINE or not line.endswith(b"\n"):
            raise InvalidArgument("Malformed chunked request body: a chunk-size line is too long or cut short.")
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            raise InvalidArgument(f"Malformed chunked request body: chunk size {size_text[:20]!r}.")
        size = int(size_text, 16)
        if size == 0:
            break
        if len(body) + size > limit:
            raise RequestTooLarge(_too_large(limit))
        chunk = rfile.read(size)
        if len(chunk) < size or rfile.read(2) != b"\r\n":
            raise InvalidArgument("Malformed chunked request body: a chunk is shorter than announced.")
        body += chunk
    for _ in range(_MAX_TRAILERS):
        trailer = rfile.readline(_MAX_CHUNK_LINE + 1)
        if trailer in (b"\r\n", b"\n", b""):
            return bytes(body)
        if len(trailer) > _MAX_CHUNK_LINE:
            break
    raise InvalidArgument("Malformed chunked request body: too many or too long trailer lines.")
