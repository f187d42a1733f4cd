"""Headless Chromium for the tests that open pages in a real browser, and a static file server on 127.0.0.1 to serve
their pages from::

    from browser import chromium_or_skip, screenshot, static_server

    def test_page(tmp_path):
        browser = chromium_or_skip()
        (tmp_path / "page.html").write_text(...)
        with static_server(tmp_path) as base:
            shot = screenshot(browser, f"{base}/page.html", tmp_path / "shot.png", px=512)

(tests/ is on ``sys.path`` because it holds the root conftest.py.) Chromium is the Debian package ``chromium``
(``apt-get install -y chromium``); the tests skip without it.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

__all__ = ["BROWSERS", "find_chromium", "chromium_or_skip", "screenshot", "dump_dom", "static_server"]

BROWSERS = ("chromium", "chromium-headless-shell", "chromium-browser", "google-chrome")
# Flags of every run: no display, no sandbox (the tests may run as root in a container), no GPU.
_HEADLESS = ("--headless", "--no-sandbox", "--disable-gpu")


def find_chromium() -> str | None:
    """The path of the first of :data:`BROWSERS` on ``PATH``, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def chromium_or_skip() -> str:
    """The path of Chromium (:func:`find_chromium`); skips the calling test when there is none."""
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium found: install the Debian package 'chromium' (apt-get install -y chromium)")
    return path


def screenshot(browser: str, url: str, out: Path, *, px: int, budget_ms: int = 15000, timeout_s: float = 120,
               flags: Sequence[str] = ()) -> np.ndarray:
    """Opens ``url`` in a ``px`` x ``px`` window, lets the page run ``budget_ms`` of virtual time and saves a
    screenshot to ``out``.

    Args:
      flags: more Chromium flags (``--host-resolver-rules=...``).

    Returns:
      The (px, px, 3) uint8 RGB screenshot (scale factor 1, sRGB, no scroll bars).

    Raises:
      AssertionError: Chromium wrote no screenshot (its exit status and stderr in the message).
    """
    command = [browser, *_HEADLESS, "--hide-scrollbars", "--force-device-scale-factor=1",
               "--force-color-profile=srgb", *flags, f"--window-size={px},{px}", f"--virtual-time-budget={budget_ms}",
               f"--screenshot={out}", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    assert out.exists(), f"chromium wrote no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    return np.asarray(PILImage.open(out).convert("RGB"))


def dump_dom(browser: str, url: str, *, budget_ms: int, timeout_s: float = 120) -> str:
    """The page's DOM (serialised HTML) after ``budget_ms`` of virtual time."""
    command = [browser, *_HEADLESS, f"--virtual-time-budget={budget_ms}", "--dump-dom", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s).stdout


@contextlib.contextmanager
def static_server(folder: str | os.PathLike[str]) -> Iterator[str]:
    """Serves the files in ``folder`` on 127.0.0.1 (a free port, no request log) until exit; yields its base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
