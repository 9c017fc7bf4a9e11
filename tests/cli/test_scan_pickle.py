"""modelgate scan on pickle files: verdicts, findings, exit codes, output
formats, folders, standard input, policy options and limits."""
import json
import os
import shutil

import pytest

from conftest import BIN, FIXTURES, SRC, fixture, run, scan_json

PICKLES = os.path.join(FIXTURES, "pickle")


def expected_verdict(name):
    if name.startswith("mal_"):
        return "dangerous"
    if name.startswith("sus_") or name == "all_opcodes.pkl":
        return "suspicious"
    if name.startswith("unk_"):
        return "unknown"
    if name.startswith("ok_"):
        return "safe"
    raise AssertionError(name)


ALL = sorted(f for f in os.listdir(PICKLES) if f.endswith(".pkl"))


@pytest.mark.parametrize("name", ALL)
def test_fixture_verdict(name):
    rc, doc = scan_json(os.path.join(PICKLES, name))
    (f,) = doc["files"]
    want = expected_verdict(name)
    assert f["verdict"] == want, json.dumps(f, indent=1)
    assert f["format"] == "pickle"
    assert rc == (1 if want in ("dangerous", "suspicious") else 0)


def findings(path, *extra):
    rc, doc = scan_json(path, extra=extra)
    return rc, doc["files"][0]


def test_broken_stream_reports_payload_and_break():
    rc, f = findings(fixture("pickle", "mal_broken_after_payload.pkl"))
    assert rc == 1
    rules = {(x["rule"], x["severity"]) for x in f["findings"]}
    assert ("pickle-call", "dangerous") in rules
    assert ("pickle-broken", "suspicious") in rules
    brk = [x for x in f["findings"] if x["rule"] == "pickle-broken"][0]
    assert brk["offset"] == 62
    shell = [x for x in f["findings"] if x["rule"] == "indicator-shell"]
    assert shell and "192.0.2.1" in shell[0]["indicator"]


def test_json_fields_of_a_finding():
    _, f = findings(fixture("pickle", "mal_os_system_p0.pkl"))
    g = [x for x in f["findings"] if x["rule"] == "pickle-global"][0]
    assert g == {
        "severity": "dangerous", "rule": "pickle-global",
        "message": g["message"], "layer": None, "offset": 0,
        "module": "os", "name": "system", "indicator": None, "count": 1}
    assert f["complete"] is True and f["size"] == os.path.getsize(
        fixture("pickle", "mal_os_system_p0.pkl"))


def test_json_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.load(open(os.path.join(SRC, "docs", "schema",
                                         "report-v1.json")))
    p = run("scan", "--format", "json", PICKLES, os.path.join(SRC, "examples"))
    doc = json.loads(p.stdout)
    jsonschema.validate(doc, schema)
    assert doc["schema"] == 1
    assert doc["summary"]["files"] == len(doc["files"])
    assert doc["summary"]["exit_code"] == p.returncode == 1


def test_text_output_golden():
    p = run("scan", "--no-color", "-j", "2", "examples")
    text = p.stdout.decode()
    # the timing at the end varies; the rest is the contract
    body, _, summary = text.rpartition("modelgate: ")
    golden = os.path.join(SRC, "tests", "cli", "golden", "examples.txt")
    if os.environ.get("MG_UPDATE_GOLDEN") == "1":
        open(golden, "w").write(body)
    assert body == open(golden).read()
    assert summary.startswith("6 files: 3 dangerous, 0 suspicious, "
                              "1 unknown, 2 safe, 0 error;")
    assert p.returncode == 1


def test_exit_codes_and_fail_on():
    sus = fixture("pickle", "sus_ext.pkl")
    unk = fixture("pickle", "unk_user_class.pkl")
    ok = fixture("pickle", "ok_plain_p2.pkl")
    assert run("scan", ok).returncode == 0
    assert run("scan", sus).returncode == 1
    assert run("scan", "--fail-on", "dangerous", sus).returncode == 0
    assert run("scan", unk).returncode == 0
    assert run("scan", "--fail-on", "unknown", unk).returncode == 1
    assert run("scan", "--fail-on", "bogus", ok).returncode == 2
    assert run("scan").returncode == 2
    assert run("scan", "--no-such-option", ok).returncode == 2
    p = run("scan", "/nonexistent/model.pt")
    assert p.returncode == 2 and b"/nonexistent/model.pt" in p.stderr


def test_limit_hit_is_error_not_safe():
    p = run("scan", "--format", "json", "--max-opcodes", "5",
            fixture("pickle", "ok_plain_p2.pkl"))
    doc = json.loads(p.stdout)
    f = doc["files"][0]
    assert f["verdict"] == "error" and f["complete"] is False
    lim = [x for x in f["findings"] if x["rule"] == "limit"]
    assert lim and lim[0]["name"] == "max-opcodes"
    assert p.returncode == 2
    # a limit never lowers what was found before it
    p = run("scan", "--max-opcodes", "7",
            fixture("pickle", "mal_posix_system_p2.pkl"))
    assert p.returncode == 1


@pytest.mark.parametrize("name", ["model.bin", "weights.safetensors",
                                  "README.md", "noextension"])
def test_content_not_name_decides(tmp_path, name):
    dst = tmp_path / name
    shutil.copy(fixture("pickle", "mal_os_system_p0.pkl"), dst)
    rc, doc = scan_json(str(dst))
    assert doc["files"][0]["verdict"] == "dangerous" and rc == 1


def test_stdin():
    data = open(fixture("pickle", "mal_inst.pkl"), "rb").read()
    p = run("scan", "--format", "json", "-", input=data)
    doc = json.loads(p.stdout)
    assert doc["files"][0]["path"] == "-"
    assert doc["files"][0]["verdict"] == "dangerous"


def test_folder_recursive_sorted_and_links(tmp_path):
    root = tmp_path / "root"
    (root / "b" / "c").mkdir(parents=True)
    shutil.copy(fixture("pickle", "ok_plain_p0.pkl"), root / "b" / "c" / "z.pkl")
    shutil.copy(fixture("pickle", "mal_inst.pkl"), root / "a.pkl")
    outside = tmp_path / "outside.pkl"
    shutil.copy(fixture("pickle", "mal_obj.pkl"), outside)
    os.symlink(outside, root / "link_out.pkl")       # leaves the root
    os.symlink(root / "a.pkl", root / "link_in.pkl")  # same file again
    os.mkfifo(root / "fifo")                          # not a regular file
    rc, doc = scan_json(str(root))
    paths = [os.path.relpath(f["path"], root) for f in doc["files"]]
    assert paths == ["link_in.pkl", "b/c/z.pkl"], paths
    assert rc == 1


def test_jobs_do_not_change_results():
    a = run("scan", "--format", "json", "-j", "1", PICKLES)
    b = run("scan", "--format", "json", "-j", "4", PICKLES)
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    for d in (da, db):
        d["summary"].pop("seconds")
    assert da == db and a.returncode == b.returncode


def test_allow_and_policy(tmp_path):
    unk = fixture("pickle", "unk_user_class.pkl")
    p = run("scan", "--format", "json", "--allow", "__main__.MyNet", unk)
    assert json.loads(p.stdout)["files"][0]["verdict"] == "safe"
    pol = tmp_path / "policy.txt"
    pol.write_text("# our classes\nsafe __main__.*\n")
    p = run("scan", "--format", "json", "--policy", str(pol), unk)
    assert json.loads(p.stdout)["files"][0]["verdict"] == "safe"
    pol.write_text("safe os.*\n")
    p = run("scan", "--policy", str(pol), fixture("pickle",
                                                  "mal_os_system_p0.pkl"))
    assert p.returncode == 1  # a wildcard never makes os.system safe
    pol.write_text("nonsense here\n")
    p = run("scan", "--policy", str(pol), unk)
    assert p.returncode == 2 and b":1:" in p.stderr
    p = run("scan", "--allow", "nodot", unk)
    assert p.returncode == 2


def test_verbose_lists_safe_imports():
    p = run("scan", "-v", fixture("pickle", "ok_ordereddict.pkl"))
    assert b"INFO pickle-global GLOBAL imports collections.OrderedDict" \
        in p.stdout
    p = run("scan", fixture("pickle", "ok_ordereddict.pkl"))
    assert b"INFO" not in p.stdout


def test_help_and_version():
    assert run("--version").returncode == 0
    p = run("scan", "--help")
    assert p.returncode == 0 and b"--max-opcodes" in p.stdout
    assert run("frobnicate").returncode == 2
