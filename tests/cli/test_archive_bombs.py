"""Decompression bombs, built at test time by the fixture generator: each
scan must end fast, in bounded memory, with the limit that stopped it
named and the verdict error (never clean)."""
import json
import os
import subprocess
import signal
import sys
import threading
import time

import pytest

from conftest import BIN, SRC

GEN = os.path.join(SRC, "tests", "fixtures", "gen", "make_archives.py")
# Generous bounds: the bombs hold 10 GiB; reading them whole would take
# minutes and as much memory as the largest member. Under ASan (run-tests.sh
# sets ASAN_OPTIONS) time means nothing, memory has the shadow on top, and
# the member-count bomb is scaled down (each member costs allocations that
# ASan makes slow); the outcomes are checked all the same.
SANITIZED = "ASAN_OPTIONS" in os.environ
# A hang guard, not a speed check (bench/ measures time): a bomb read whole
# would take far longer; what stopped it is checked through the limits named.
HANG_SECONDS = 600
MAX_RSS_KB = (2048 if SANITIZED else 512) << 10
MEMBERS = 2000 if SANITIZED else 100000


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bombs")
    made = {}
    for name, arg, out in (("gzip-zeros", 10240, "zeros.gz"),
                           ("zip-zeros", 10240, "zeros.zip"),
                           ("tar-gz-zeros", 10240, "zeros.tar.gz"),
                           ("7z-solid", 5, "solid.7z"),
                           ("tar-many", MEMBERS + 1, "many.tar.gz"),
                           ("tar-nested", 20, "nested.tar")):
        path = str(d / out)
        subprocess.run([sys.executable, GEN, "--bomb", name, path, str(arg)],
                       check=True)
        made[out] = path
    return made


def scan_measured(path, *extra):
    t0 = time.monotonic()
    p = subprocess.Popen([BIN, "scan", "--format", "json", *extra, path],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    timer = threading.Timer(HANG_SECONDS, p.kill)
    timer.start()
    out = p.stdout.read()
    # ru_maxrss of the child: its own peak, or the size of this process
    # when it forked, whichever is larger (an upper bound either way)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    secs = time.monotonic() - t0
    timer.cancel()
    assert status != signal.SIGKILL, "hung: killed after %d s" % HANG_SECONDS
    f = json.loads(out)["files"][0]
    print("%s %s: %.2f s, %d KiB, %s" % (os.path.basename(path), extra, secs,
                                         ru.ru_maxrss, f["verdict"]))
    assert ru.ru_maxrss < MAX_RSS_KB
    return p.returncode, f


def limits(f):
    return [x["name"] for x in f["findings"] if x["rule"] == "limit"]


def test_gzip_of_10_gib_of_zeros(bombs):
    rc, f = scan_measured(bombs["zeros.gz"])
    # Zeros are no format and no pickle: the scan gives up on them after
    # MG_RESYNC_WINDOW (64 MiB) of junk, verdict unknown, or max-ratio stops
    # it first (which depends on how far libarchive has read ahead). Either
    # way it never reads the 10 GiB and never says safe.
    if f["verdict"] == "error":
        assert rc == 2 and not f["complete"]
        assert limits(f) == ["max-ratio"]
    else:
        assert rc == 0 and f["verdict"] == "unknown", f
        rules = [x["rule"] for x in f["findings"]]
        assert "format-unrecognised" in rules
        info = [x["message"] for x in f["findings"]
                if x["rule"] == "archive-info"]
        assert len(info) == 1
        out = int(info[0].split(" scanned, ")[1].split(" ")[0])
        assert out <= (64 << 20) + (4 << 20), info


def test_zip_of_10_gib_of_zeros(bombs):
    # ZIP64, one deflated member: the ZIP reader's own ratio limit
    rc, f = scan_measured(bombs["zeros.zip"])
    assert rc == 2 and f["verdict"] == "error" and not f["complete"]
    assert limits(f) == ["max-ratio"]
    assert f["bytes_read"] < (32 << 20)


def test_tar_gz_with_10_gib_member_before_the_payload(bombs):
    rc, f = scan_measured(bombs["zeros.tar.gz"])
    assert rc == 2 and f["verdict"] == "error"
    assert limits(f) == ["max-ratio"]
    # the other limits stop it too when the ratio is allowed
    rc, f = scan_measured(bombs["zeros.tar.gz"], "--max-ratio", "1000000000",
                          "--max-member-bytes", str(512 << 20))
    assert rc == 2 and limits(f) == ["max-member-bytes"]


def test_7z_with_a_huge_solid_block(bombs):
    path = bombs["solid.7z"]
    rc, f = scan_measured(path)
    assert rc == 2 and f["verdict"] == "error"
    assert limits(f) == ["max-ratio"]
    free = ("--max-ratio", "1000000000")
    rc, f = scan_measured(path, *free, "--max-member-bytes", str(256 << 20))
    assert rc == 2 and limits(f) == ["max-member-bytes"]
    rc, f = scan_measured(path, *free, "--max-total-bytes", str(256 << 20))
    assert rc == 2 and limits(f) == ["max-total-bytes"]
    rc, f = scan_measured(path, *free, "--max-seconds", "1")
    assert rc == 2 and limits(f) == ["max-seconds"]


def test_100001_members(bombs):
    path = bombs["many.tar.gz"]
    rc, f = scan_measured(path, "--max-members", str(MEMBERS))
    assert rc == 2 and f["verdict"] == "error"
    assert limits(f) == ["max-members"]
    # allowed, every member is scanned: all one-byte text files
    rc, f = scan_measured(path, "--max-members", str(2 * MEMBERS), "-v")
    assert rc == 0 and f["verdict"] == "safe" and f["complete"]
    info = [x["message"] for x in f["findings"] if x["rule"] == "archive-info"]
    n = MEMBERS + 1
    assert "tar: %d entries, %d scanned" % (n, n) in " ".join(info)


def test_nested_archives_beyond_the_depth_limit(bombs):
    rc, f = scan_measured(bombs["nested.tar"])
    assert rc == 2 and f["verdict"] == "error"
    assert limits(f) == ["max-depth"]
    rc, f = scan_measured(bombs["nested.tar"], "--max-depth", "20")
    assert rc == 1 and f["verdict"] == "dangerous"
    (layer,) = {x["layer"] for x in f["findings"]
                if x["rule"] == "pickle-call"}
    assert layer.count("!") == 19 and layer.endswith("!payload.pkl")
