"""Who may talk to the local engine: the security model of a server on loopback, after Jupyter's.

- **A token.** A random token (:func:`new_token`, 192 bits) is made when the server starts; every request must carry
  it, as ``?key=TOKEN`` (what the earthengine-api client appends to every call and to tile and thumbnail URLs when
  initialised with ``cloud_api_key=TOKEN``), ``?token=TOKEN``, ``Authorization: Bearer TOKEN`` or
  ``X-Goog-Api-Key: TOKEN``. ``aef-ee serve`` prints it in its ``ee.Initialize(...)`` line and
  ``aef_ee.initialize(backend="local")`` passes it by itself. The one exception is a download URL
  (``thumbnails/ID:getPixels``, ``tables/ID:getFeatures``, which the client builds without the key): its ID is a
  128-bit random name that only a request with the token can create, as on Earth Engine.
- **The Host header** must name the address the server is bound to (``127.0.0.1:PORT``, ``localhost:PORT``,
  ``[::1]:PORT``), so a page on a domain that re-resolves to 127.0.0.1 (DNS rebinding) is refused.
- **Origins.** Answers carry ``Access-Control-Allow-Origin`` only for origins the user allowed (``--allow-origin``);
  a request that a browser marks with another ``Origin`` is refused, and so is its CORS preflight, so a page from
  another origin can neither read answers nor send ``DELETE``/``PATCH`` or JSON. ``<img>`` tags send no Origin: a
  tile needs the token.
- **Bodies are JSON only** (``Content-Type: application/json``): browsers send ``text/plain`` and form bodies
  cross-origin without a preflight, so those are refused.
- **Binding** to anything but loopback needs ``allow_remote``, and then the token is the only guard.

Files named in requests (ingestion, ``Image.loadGeoTIFF``) are checked in :mod:`aef_ee.local.ingest`.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import re
import secrets
import threading
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from email.message import Message

from aef_ee.local.errors import PermissionDenied, Unauthenticated, UnsafeBinding, UnsupportedMediaType

__all__ = [
    "SecurityPolicy",
    "new_token",
    "is_loopback",
    "split_token",
    "register_token",
    "unregister_token",
    "token_for",
    "TOKEN_ENV",
    "TOKEN_QUERY_PARAMETERS",
    "ALLOWED_METHODS",
    "ALLOWED_HEADERS",
]

# The environment variable that fixes the token of `aef-ee serve` and gives it to aef_ee.initialize(url=...).
TOKEN_ENV = "AEF_EE_TOKEN"
# `key` is what the ee client appends (its cloud_api_key); `token` is Jupyter's spelling.
TOKEN_QUERY_PARAMETERS = ("key", "token")
ALLOWED_METHODS = "GET, POST, PATCH, DELETE"
# What the ee client and a page using the REST API send.
ALLOWED_HEADERS = "Authorization, Content-Type, X-Goog-Api-Key, X-Goog-Api-Client, X-Goog-User-Project"
# Download URLs the ee client builds without the key (makeDownloadUrl, makeTableDownloadUrl): capabilities.
_CAPABILITY_PATH = re.compile(r"/v1/projects/[^/]+/(?:thumbnails/[^/:]+:getPixels|tables/[^/:]+:getFeatures)\Z")
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")
_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?\Z")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def new_token() -> str:
    """A fresh random token: 48 hex digits (192 bits), safe in URLs."""
    return secrets.token_hex(24)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address, IPv6 with or without brackets) is this machine's loopback."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_port(host: str, port: int) -> str:
    host = host.lower()
    return f"[{host.strip('[]')}]:{port}" if ":" in host.strip("[]") else f"{host}:{port}"


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, the scheme's default port dropped.

    Raises:
      ValueError: not an http(s) origin (``*`` and ``null`` included: they cannot be allowed).
    """
    m = _ORIGIN.match(origin.strip())
    if not m:
        raise ValueError(f"not an origin (expected http://host[:port] or https://host[:port]): {origin!r}")
    scheme, host, port = m["scheme"].lower(), m["host"].lower(), m["port"]
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@dataclasses.dataclass(frozen=True)
class SecurityPolicy:
    """What one server accepts.

    Attributes:
      token: the token every request must carry.
      allowed_hosts: the accepted ``Host`` header values (``host:port``, lower case); None accepts any (a server
        bound to every interface with ``allow_remote``).
      allowed_origins: the browser origins that may call the API and read its answers (``http://host:port``).
    """

    token: str
    allowed_hosts: frozenset[str] | None
    allowed_origins: frozenset[str] = frozenset()

    @classmethod
    def for_server(cls, host: str, port: int, *, token: str | None = None,
                   allowed_origins: Iterable[str] = (), allow_remote: bool = False) -> "SecurityPolicy":
        """The policy of a server bound to ``host``:``port``.

        Args:
          token: the token (default: a fresh one).
          allowed_origins: browser origins allowed to use the API (``http://localhost:3000``).
          allow_remote: allow binding to an address other than loopback.

        Raises:
          UnsafeBinding: ``host`` is not loopback and ``allow_remote`` is false.
          ValueError: an allowed origin is not an http(s) origin, or the token is too short.
        """
        if token is not None and len(token) < 16:
            raise ValueError("the token must have at least 16 characters (aef-ee makes 48 random hex digits)")
        if not is_loopback(host) and not allow_remote:
            raise UnsafeBinding(
                f"refusing to bind the local Earth Engine to {host!r}, which other machines can reach: pass "
                "allow_remote=True (aef-ee serve --allow-remote) if that is what you want; the token is then the "
                "only protection of your catalog and files.")
        if host in _WILDCARD_HOSTS:
            hosts: frozenset[str] | None = None
        else:
            names = {host, "127.0.0.1", "localhost", "::1"} if is_loopback(host) else {host}
            hosts = frozenset(_host_port(name, port) for name in names)
            if port == 80:
                hosts |= {name.rsplit(":", 1)[0] for name in hosts}
        origins = frozenset(normalize_origin(o) for o in allowed_origins)
        return cls(token or new_token(), hosts, origins)

    # --- checks, in the order the server applies them --------------------------------------------------------

    def check_host(self, headers: Message) -> None:
        """Refuses a request whose Host header does not name this server (DNS rebinding).

        Raises:
          PermissionDenied: no Host header, or another name.
        """
        if self.allowed_hosts is None:
            return
        values = headers.get_all("Host") or []
        if len(values) != 1 or values[0].strip().lower() not in self.allowed_hosts:
            shown = values[0][:100] if values else None
            raise PermissionDenied(f"Blocking request from unknown host {shown!r}: the local Earth Engine answers "
                                   f"only to {sorted(self.allowed_hosts)}.")

    def allowed_origin(self, headers: Message) -> str | None:
        """The request's Origin if this server lets that origin read answers; None when there is no Origin.

        Raises:
          PermissionDenied: an Origin that is neither this server nor an allowed one.
        """
        origin = headers.get("Origin")
        if origin is None:
            return None
        try:
            normalized = normalize_origin(origin)
        except ValueError:
            normalized = None  # "null" (a sandboxed page, a file://) or garbage
        if normalized is not None and (normalized in self.allowed_origins or self._same_origin(normalized, headers)):
            return origin
        raise PermissionDenied(f"Blocking request from origin {origin[:100]!r}: allow it with "
                               "aef-ee serve --allow-origin ORIGIN (or LocalServer(allowed_origins=...)).")

    @staticmethod
    def _same_origin(origin: str, headers: Message) -> bool:
        host = (headers.get("Host") or "").strip()
        try:
            return bool(host) and origin == normalize_origin(f"http://{host}")
        except ValueError:
            return False

    def check_token(self, method: str, path: str, query: Mapping[str, Sequence[str]], headers: Message) -> None:
        """Refuses a request without this server's token.

        Raises:
          Unauthenticated: no token, or a wrong one.
        """
        if method == "GET" and _CAPABILITY_PATH.match(path):
            return
        presented = [v for name in TOKEN_QUERY_PARAMETERS for v in query.get(name, ())]
        authorization = headers.get("Authorization") or ""
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() in ("bearer", "token") and credentials.strip():
            presented.append(credentials.strip())
        if headers.get("X-Goog-Api-Key"):
            presented.append(headers["X-Goog-Api-Key"].strip())
        if not presented:
            raise Unauthenticated(
                "The local Earth Engine needs its token (printed by `aef-ee serve`): connect with "
                "aef_ee.initialize('local', url='http://HOST:PORT/?token=TOKEN') or ee.Initialize(..., "
                "cloud_api_key=TOKEN); raw requests send `Authorization: Bearer TOKEN` or `?token=TOKEN`.")
        expected = self.token.encode()
        if not any(hmac.compare_digest(value.encode(), expected) for value in presented):
            raise Unauthenticated("Invalid token for the local Earth Engine.")

    @staticmethod
    def check_content_type(headers: Message, has_body: bool) -> None:
        """Refuses a request body that is not JSON.

        Raises:
          UnsupportedMediaType: a body whose Content-Type is not application/json.
        """
        if not has_body:
            return
        content_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            raise UnsupportedMediaType(
                f"Request bodies must be JSON (Content-Type: application/json); got {content_type or 'none'!r}.")

    # --- answers ---------------------------------------------------------------------------------------------

    @staticmethod
    def cors_headers(origin: str | None) -> dict[str, str]:
        """The CORS headers of an answer to an allowed ``origin`` (none without one)."""
        if origin is None:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def preflight_headers(self, headers: Message) -> dict[str, str]:
        """The answer headers of a CORS preflight (``OPTIONS``) from an allowed origin.

        Raises:
          PermissionDenied: no Origin, or one that is not allowed.
        """
        origin = self.allowed_origin(headers)
        if origin is None:
            raise PermissionDenied("An OPTIONS request without an Origin is not a CORS preflight.")
        return {**self.cors_headers(origin), "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS, "Access-Control-Max-Age": "600"}


def split_token(url: str) -> tuple[str, str | None]:
    """``url`` without its ``token`` / ``key`` query parameter, and that token (None when absent).

    ``http://127.0.0.1:8765/?token=abc`` -> (``http://127.0.0.1:8765``, ``abc``).
    """
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    token = next((value for name, value in query if name in TOKEN_QUERY_PARAMETERS), None)
    rest = urllib.parse.urlencode([(n, v) for n, v in query if n not in TOKEN_QUERY_PARAMETERS])
    path = parts.path.rstrip("/")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, rest, "")), token


# The tokens of the servers running in this process, by URL: aef_ee.initialize("local", url=server.url) in the
# process that started the server needs no token argument.
_TOKENS: dict[str, str] = {}
_TOKENS_LOCK = threading.Lock()


def register_token(url: str, token: str) -> None:
    with _TOKENS_LOCK:
        _TOKENS[url.rstrip("/")] = token


def unregister_token(url: str) -> None:
    with _TOKENS_LOCK:
        _TOKENS.pop(url.rstrip("/"), None)


def token_for(url: str) -> str | None:
    """The token of the server at ``url`` if this process runs it, else None."""
    with _TOKENS_LOCK:
        return _TOKENS.get(url.rstrip("/"))
