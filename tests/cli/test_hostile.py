"""Hostile inputs end in bounded time and memory, with a limit (verdict
error) or a finding, never a crash (issue: hardening). Peak memory is
measured per run; docs/benchmarks.md records it for a release build."""
import json
import os
import resource
import subprocess
import sys

import pytest

from conftest import BIN

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import hostile  # noqa: E402

# Not a speed check (bench/hostile.py measures time): a hang guard only,
# generous enough for ASan+UBSan on 2 busy cores. Memory is bounded here.
HANG_SECONDS = 600
MAX_RSS_MIB = 1024


def run_measured(args):
    p = subprocess.Popen([BIN, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE,
                         env=dict(os.environ, NO_COLOR="1"))
    out, err = p.communicate(timeout=HANG_SECONDS)
    return p.returncode, out, err


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return hostile.write_all(str(tmp_path_factory.mktemp("hostile")))


@pytest.mark.parametrize("name", sorted(hostile.CASES))
def test_hostile_input(inputs, name):
    path, args = inputs[name]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rc, out, err = run_measured(["scan", "--format", "json", *args, path])
    assert rc in (0, 1, 2), (rc, err[-2000:])
    doc = json.loads(out)
    f = doc["files"][0]
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest so far: only meaningful when it
    # grew, and then it is this run's
    if rss > before:
        assert rss / 1024 < MAX_RSS_MIB, rss
    if f["verdict"] in ("safe", "unknown"):
        # nothing worse found: then it must have been read completely
        assert f["complete"], json.dumps(f)[:2000]
    if not f["complete"]:
        assert f["verdict"] != "safe"


@pytest.mark.parametrize("name", ["pickle-resync-c-junk",
                                  "pickle-resync-long-lines"])
def test_resync_through_junk_finds_the_payload(inputs, name):
    path, _ = inputs[name]
    rc, out, err = run_measured(["scan", "--format", "json", path])
    f = json.loads(out)["files"][0]
    assert f["verdict"] == "dangerous", json.dumps(f)[:2000]
    assert any(x["rule"] == "pickle-global" and x["module"] == "os" and
               x["name"] == "system" for x in f["findings"])


def test_nested_payload_past_the_depth_limit_is_incomplete(inputs):
    path, _ = inputs["zlib-10000-levels"]
    rc, out, err = run_measured(["scan", "--format", "json", path])
    f = json.loads(out)["files"][0]
    assert f["verdict"] == "error" and rc == 2
    assert any(x["rule"] == "limit" and x["name"] == "max-depth"
               for x in f["findings"])


def test_max_seconds_stops_a_long_stream(inputs):
    path, _ = inputs["pickle-sparse-memo"]
    rc, out, err = run_measured(["scan", "--format", "json",
                                     "--max-seconds", "1", path])
    f = json.loads(out)["files"][0]
    # on a fast machine the scan may finish within the second
    if not f["complete"]:
        assert f["verdict"] == "error" and rc == 2
        assert any(x["rule"] == "limit" and x["name"] == "max-seconds"
                   for x in f["findings"])
