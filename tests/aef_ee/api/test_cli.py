"""``aef-ee api`` started as a process: it binds 127.0.0.1, prints the URL with a random token, and answers."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
from embedding_field import COLLECTION

# The command module run as `aef-ee api` runs it (the CLI's command table is kept by aef_ee.cli).
PROGRAM = ("import argparse, sys; from aef_ee.cli import api; p = argparse.ArgumentParser(); api.add_arguments(p); "
           "sys.exit(api.run(p.parse_args(sys.argv[1:])))")


def test_api_command_starts_with_a_token(embedding_field):
    process = subprocess.Popen([sys.executable, "-c", PROGRAM, "--collection", COLLECTION, "--port", "0", "--url",
                                embedding_field.server.url_with_token],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = process.stdout.readline() + process.stdout.readline()
        match = re.search(r"on 127\.0\.0\.1:(\d+); open (http://127\.0\.0\.1:\d+/docs\?token=(\S+))", banner)
        assert match, banner
        port, token = match.group(1), match.group(3)
        assert f"token: {token}" in banner and len(token) >= 40
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health", timeout=30).status_code == 401
        health = httpx.get(f"{base}/health", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
        assert health["collection"] == COLLECTION and health["index"] is None
        assert httpx.get(match.group(2), timeout=30).status_code == 200  # the printed URL opens the docs
        lon, lat = embedding_field.lonlat(25, 7)
        answer = httpx.get(f"{base}/embeddings", params={"point": f"{lon},{lat}", "year": 2024, "token": token},
                           timeout=60)
        assert answer.status_code == 200 and len(answer.json()["points"][0]["vector"]) == 64
        no_index = httpx.post(f"{base}/similarity", json={"point": [lon, lat]}, params={"token": token}, timeout=60)
        assert no_index.status_code == 400 and "--index" in no_index.json()["error"]["message"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_api_command_refuses_a_public_bind_without_the_flag():
    process = subprocess.run([sys.executable, "-c", PROGRAM, "--host", "0.0.0.0", "--port", "0"],
                             capture_output=True, text=True, timeout=120)
    assert process.returncode != 0 and "allow_remote" in process.stderr
