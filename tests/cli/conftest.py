"""Shared helpers for the CLI golden tests.

MODELGATE (the binary under test), MG_SOURCE_DIR and MG_BUILD_DIR come from
ctest; run by hand with e.g.
  MODELGATE=build/modelgate /usr/bin/python3 -m pytest tests/cli
"""
import json
import os
import subprocess
import sys

import pytest

SRC = os.environ.get("MG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("MG_BUILD_DIR") or os.path.join(SRC, "build")
BIN = os.environ.get("MODELGATE") or os.path.join(BUILD, "modelgate")
FIXTURES = os.path.join(SRC, "tests", "fixtures")
UPDATE_GOLDEN = os.environ.get("MG_UPDATE_GOLDEN") == "1"


def run(*args, input=None, timeout=300, env=None):
    """Run modelgate; returns CompletedProcess with text stdout/stderr."""
    e = dict(os.environ)
    e.setdefault("NO_COLOR", "1")
    if env:
        e.update(env)
    return subprocess.run([BIN, *args], input=input, capture_output=True,
                          timeout=timeout, env=e)


def scan_json(*paths, extra=()):
    """modelgate scan --format json; returns (exit code, document)."""
    p = run("scan", "--format", "json", *extra, *paths)
    assert p.stdout, p.stderr.decode(errors="replace")
    return p.returncode, json.loads(p.stdout)


def fixture(*parts):
    return os.path.join(FIXTURES, *parts)


@pytest.fixture
def mg():
    return run
