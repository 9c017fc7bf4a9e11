"""scan --cache: a rescan answers from the cache with the same results;
a changed file, policy, limit or output set is a miss; the cache file is
private and a damaged one is an error, never a wrong answer."""
import json
import os
import shutil
import sqlite3
import stat
import time

import pytest

from conftest import FIXTURES, fixture, run

PICKLES = os.path.join(FIXTURES, "pickle")


def scan(db, *args):
    p = run("scan", "--format", "json", "--cache", str(db), *args)
    assert p.stdout, p.stderr.decode()
    doc = json.loads(p.stdout)
    doc["summary"].pop("seconds")
    return p.returncode, doc, p.stderr.decode()


def without_cached(doc):
    d = json.loads(json.dumps(doc))
    d["summary"].pop("cached")
    return d


@pytest.fixture
def tree(tmp_path):
    t = tmp_path / "tree"
    shutil.copytree(PICKLES, t)
    return t


def test_rescan_hits_and_matches(tmp_path, tree):
    db = tmp_path / "c.db"
    rc1, d1, _ = scan(db, "-j", "1", str(tree))
    n = d1["summary"]["files"]
    # identical contents in one run are scanned once
    distinct = len({open(os.path.join(tree, f), "rb").read()
                    for f in os.listdir(tree)})
    assert d1["summary"]["cached"] == n - distinct
    rc2, d2, _ = scan(db, str(tree))
    assert d2["summary"]["cached"] == n
    assert (rc1, without_cached(d1)) == (rc2, without_cached(d2))
    # the same results as without a cache at all
    p = run("scan", "--format", "json", str(tree))
    d0 = json.loads(p.stdout)
    d0["summary"].pop("seconds")
    assert without_cached(d0) == without_cached(d2)
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_text_summary_says_cached(tmp_path):
    db = tmp_path / "c.db"
    mal = fixture("pickle", "mal_inst.pkl")
    run("scan", "--cache", str(db), mal)
    p = run("scan", "--cache", str(db), mal)
    assert p.returncode == 1
    assert b"(1 from the cache)" in p.stdout
    assert b"DANGEROUS pickle-call" in p.stdout


def test_changed_file_is_rescanned(tmp_path, tree):
    db = tmp_path / "c.db"
    scan(db, str(tree))
    target = tree / "ok_plain_p2.pkl"
    # same size, same modification time: only the change time and the
    # content differ
    st = os.stat(target)
    mal = open(fixture("pickle", "mal_os_system_p0.pkl"), "rb").read()
    data = open(target, "rb").read()
    time.sleep(0.01)
    with open(target, "r+b") as f:
        f.write(mal[: len(data)] if len(mal) >= len(data)
                else mal + b"\0" * (len(data) - len(mal)))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    rc, doc, _ = scan(db, str(target))
    assert doc["summary"]["cached"] == 0
    assert doc["files"][0]["verdict"] != "safe"
    # an untouched file hits, even under another name (same content)
    other = tmp_path / "copy.pkl"
    shutil.copy(fixture("pickle", "mal_inst.pkl"), other)
    rc, doc, _ = scan(db, str(other))
    assert doc["summary"]["cached"] == 1 and rc == 1
    assert doc["files"][0]["path"] == str(other)


@pytest.mark.parametrize("extra", [["--allow", "__main__.MyNet"],
                                   ["--max-opcodes", "1000"],
                                   ["-v"]])
def test_configuration_is_part_of_the_key(tmp_path, extra):
    db = tmp_path / "c.db"
    unk = fixture("pickle", "unk_user_class.pkl")
    p = run("scan", "--cache", str(db), unk)
    p1 = run("scan", "--cache", str(db), *extra, unk)
    assert b"from the cache" not in p1.stdout
    p2 = run("scan", "--cache", str(db), *extra, unk)
    assert b"(1 from the cache)" in p2.stdout
    p3 = run("scan", "--cache", str(db), unk)
    assert b"(1 from the cache)" in p3.stdout
    assert p.stdout.split(b"modelgate: ")[0] == \
        p3.stdout.split(b"modelgate: ")[0]


def test_incomplete_scans_stay_incomplete(tmp_path):
    db = tmp_path / "c.db"
    ok = fixture("pickle", "ok_plain_p2.pkl")
    for _ in range(2):
        rc, doc, _ = scan(db, "--max-opcodes", "3", ok)
        assert rc == 2 and doc["files"][0]["verdict"] == "error"
    assert doc["summary"]["cached"] == 1  # a limit is a property of content
    # an unreadable file is never cached
    if os.geteuid() != 0:
        locked = tmp_path / "locked.pkl"
        shutil.copy(ok, locked)
        locked.chmod(0)
        for _ in range(2):
            rc, doc, _ = scan(db, str(locked))
            assert doc["summary"]["cached"] == 0 and rc == 2


def test_tampered_rows_are_misses_and_bad_files_errors(tmp_path):
    db = tmp_path / "c.db"
    mal = fixture("pickle", "mal_inst.pkl")
    scan(db, mal)
    con = sqlite3.connect(db)
    con.execute("UPDATE results SET findings = x'01020304'")
    con.commit()
    con.close()
    rc, doc, _ = scan(db, mal)
    assert doc["summary"]["cached"] == 0
    assert doc["files"][0]["verdict"] == "dangerous" and rc == 1
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    p = run("scan", "--cache", str(bad), mal)
    assert p.returncode == 2 and b"--cache" in p.stderr
    p = run("scan", "--cache", str(tmp_path / "no" / "such" / "dir.db"), mal)
    assert p.returncode == 2


def test_concurrent_jobs_share_the_cache(tmp_path, tree):
    db = tmp_path / "c.db"
    _, a, _ = scan(db, "-j", "4", str(tree))
    _, b, _ = scan(db, "-j", "4", str(tree))
    assert b["summary"]["cached"] == b["summary"]["files"]
    assert without_cached(a) == without_cached(b)
