"""Decompression bombs, built at test time by the fixture generator: each
scan must end fast, in bounded memory, with the limit that stopped it
named and the verdict error (never clean)."""
import json
import os
import subprocess
import sys
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
MAX_SECONDS = 300 if SANITIZED else 20
MAX_RSS_KB = (2048 if SANITIZED else 512) << 10
MEMBERS = 2000 if SANITIZED else 100000


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bombs")
    made = {}
    for name, arg, out in (("gzip-zeros", 10240, "zeros.gz"),
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
    out = p.stdout.read()
    # ru_maxrss of the child: its own peak, or the size of this process
    # when it forked, whichever is larger (an upper bound either way)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    secs = time.monotonic() - t0
    f = json.loads(out)["files"][0]
    print("%s %s: %.2f s, %d KiB, %s" % (os.path.basename(path), extra, secs,
                                         ru.ru_maxrss, f["verdict"]))
    assert secs < MAX_SECONDS
    assert ru.ru_maxrss < MAX_RSS_KB
    return p.returncode, f


def limits(f):
    return [x["name"] for x in f["findings"] if x["rule"] == "limit"]


def test_gzip_of_10_gib_of_zeros(bombs):
    rc, f = scan_measured(bombs["zeros.gz"])
    assert rc == 2 and f["verdict"] == "error" and not f["complete"]
    assert limits(f) == ["max-ratio"]


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
    t0 = time.monotonic()
    rc, f = scan_measured(path, *free, "--max-seconds", "1")
    assert rc == 2 and limits(f) == ["max-seconds"]
    assert SANITIZED or time.monotonic() - t0 < 5


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
