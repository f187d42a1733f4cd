"""``aef-ee api``: the embeddings REST API (``aef_ee.api``) in the foreground, on 127.0.0.1 with a token."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "add_arguments", "run"]

HELP = "serve the embeddings REST API (FastAPI + uvicorn) on 127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collection", help="the embedding collection (default: Google's "
                                             "GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL)")
    parser.add_argument("--index", help="a vector index of the collection (aef-ee index build); needed by "
                                        "POST /similarity")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8766, help="port (default 8766; 0 picks a free one)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow binding a non-loopback address (then also --allowed-host)")
    parser.add_argument("--allowed-host", action="append", default=[],
                        help="an extra Host header name to accept (repeatable)")
    parser.add_argument("--cors-origin", action="append", default=[],
                        help="a browser origin allowed by CORS, e.g. http://localhost:8888 (repeatable; no '*')")
    parser.add_argument("--token", help="the access token (default: a random one, printed at start-up)")
    parser.add_argument("--no-auth", action="store_true", help="accept requests without the token (testing only)")
    parser.add_argument("--allow-writes", action="store_true", help="enable POST /index/update")
    parser.add_argument("--project", help="Earth Engine project (default: the local engine)")
    parser.add_argument("--url", help="URL of a running local engine (aef-ee serve)")
    parser.add_argument("--catalog", help="local engine catalog directory (default: the demo catalog)")


def run(args: argparse.Namespace) -> int:
    from aef_ee.api import ApiSettings, serve
    from aef_ee.api.settings import LOOPBACK_HOSTS
    from aef_ee.backend import initialize
    from aef_ee.fields.collection import GOOGLE_EMBEDDINGS

    settings = ApiSettings(collection=args.collection or GOOGLE_EMBEDDINGS, index_path=args.index, host=args.host,
                           port=args.port, token=args.token, auth=not args.no_auth,
                           allowed_hosts=tuple(LOOPBACK_HOSTS) + tuple(args.allowed_host),
                           cors_origins=tuple(args.cors_origin), allow_writes=args.allow_writes,
                           allow_remote=args.allow_remote)
    if args.project:
        initialize("earthengine", project=args.project)
    else:
        initialize("local", url=args.url, catalog=args.catalog)
    serve(settings)
    return 0
