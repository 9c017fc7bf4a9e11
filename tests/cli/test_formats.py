"""scan output formats: text, json, jsonl and SARIF goldens; schema
validation of every JSON, JSON Lines and SARIF output; -j never changes a
result; colours and the progress line only on a terminal."""
import json
import os
import pty
import re
import subprocess

import pytest

from conftest import BIN, FIXTURES, SRC, UPDATE_GOLDEN, fixture, run

PICKLES = os.path.join(FIXTURES, "pickle")
EXAMPLES = "examples"
GOLDEN = os.path.join(SRC, "tests", "cli", "golden", "formats")
SCHEMA_DIR = os.path.join(SRC, "docs", "schema")
SARIF_SCHEMA = os.path.join(FIXTURES, "sarif", "sarif-schema-2.1.0.json")

jsonschema = pytest.importorskip("jsonschema")


def scan(*args):
    p = run("scan", *args)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def no_time(doc):
    """The one member that changes from run to run."""
    if isinstance(doc, dict):
        return {k: (0 if k == "seconds" else no_time(v))
                for k, v in doc.items()}
    if isinstance(doc, list):
        return [no_time(x) for x in doc]
    return doc


def check_golden(name, text):
    path = os.path.join(GOLDEN, name)
    if UPDATE_GOLDEN:
        open(path, "w").write(text)
    assert text == open(path).read(), name


def pretty(doc):
    return json.dumps(no_time(doc), indent=1, sort_keys=True) + "\n"


def line_validator():
    base = json.load(open(os.path.join(SCHEMA_DIR, "report-v1.json")))
    line = json.load(open(os.path.join(SCHEMA_DIR, "report-v1-line.json")))
    resolver = jsonschema.RefResolver.from_schema(
        line, store={base["$id"]: base, line["$id"]: line})
    return jsonschema.Draft7Validator(line, resolver=resolver)


def sarif_validator():
    schema = json.load(open(SARIF_SCHEMA))
    return jsonschema.Draft4Validator(schema)


def test_golden_json():
    rc, out, _ = scan("--format", "json", EXAMPLES)
    assert rc == 1
    check_golden("examples.json", pretty(json.loads(out)))


def test_golden_jsonl():
    rc, out, _ = scan("--format", "jsonl", EXAMPLES)
    assert rc == 1
    lines = [json.loads(l) for l in out.splitlines()]
    check_golden("examples.jsonl",
                 "".join(json.dumps(no_time(l), sort_keys=True) + "\n"
                         for l in lines))


def test_golden_sarif():
    rc, out, _ = scan("--format", "sarif", EXAMPLES)
    assert rc == 1
    doc = json.loads(out)
    # the rules list and indexes follow docs/rules.md: checked against it
    # in test_sarif_rules_results_and_levels, not frozen here
    driver = doc["runs"][0]["tool"]["driver"]
    driver["rules"] = len(driver["rules"]) > 20
    for r in doc["runs"][0]["results"]:
        del r["ruleIndex"]
    check_golden("examples.sarif", pretty(doc))


def test_golden_text_verbose():
    rc, out, _ = scan("-v", "--no-color", EXAMPLES)
    body, _, summary = out.rpartition("modelgate: ")
    check_golden("examples-verbose.txt", body)
    assert summary.startswith("6 files: 3 dangerous, 0 suspicious, "
                              "1 unknown, 2 safe, 0 error;")


@pytest.mark.parametrize("fmt", ["json", "jsonl", "sarif"])
def test_schemas(fmt, tmp_path):
    """Every fixture, plus files that are not pickles, an unreadable file
    and a limit hit, through each format's schema."""
    (tmp_path / "text.txt").write_text("hello\n")
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "junk.bin").write_bytes(bytes(range(256)) * 4)
    locked = tmp_path / "locked.pkl"
    locked.write_bytes(b"\x80\x02}.")
    paths = [PICKLES, EXAMPLES, str(tmp_path)]
    if os.geteuid() != 0:
        locked.chmod(0)
    rc, out, _ = scan("--format", fmt, *paths)
    assert rc == 1
    rc2, out2, _ = scan("--format", fmt, "--max-opcodes", "3", "-v",
                        fixture("pickle", "ok_plain_p2.pkl"))
    assert rc2 == 2
    for text in (out, out2):
        if fmt == "json":
            schema = json.load(open(os.path.join(SCHEMA_DIR,
                                                 "report-v1.json")))
            jsonschema.Draft7Validator(schema).validate(json.loads(text))
        elif fmt == "jsonl":
            v = line_validator()
            lines = text.splitlines()
            for l in lines:
                v.validate(json.loads(l))
            kinds = [json.loads(l)["type"] for l in lines]
            assert kinds[-1] == "summary" and set(kinds[:-1]) == {"file"}
        else:
            sarif_validator().validate(json.loads(text))


def test_schemas_reject_broken_documents():
    """The validators are not vacuous."""
    _, out, _ = scan("--format", "sarif", EXAMPLES)
    doc = json.loads(out)
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        sarif_validator().validate(doc)
    _, out, _ = scan("--format", "jsonl", EXAMPLES)
    line = json.loads(out.splitlines()[0])
    del line["verdict"]
    with pytest.raises(jsonschema.ValidationError):
        line_validator().validate(line)


def test_jsonl_matches_json():
    _, a, _ = scan("--format", "json", PICKLES)
    _, b, _ = scan("--format", "jsonl", PICKLES)
    doc = json.loads(a)
    lines = [json.loads(l) for l in b.splitlines()]
    files = [{k: v for k, v in l.items() if k not in ("schema", "type")}
             for l in lines[:-1]]
    assert files == doc["files"]
    summary = {k: v for k, v in lines[-1].items()
               if k not in ("schema", "type", "tool", "version")}
    assert no_time(summary) == no_time(doc["summary"])


def test_sarif_rules_results_and_levels():
    _, out, _ = scan("--format", "sarif", PICKLES)
    run0 = json.loads(out)["runs"][0]
    rules = run0["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    # one rule per id of docs/rules.md, with its help text
    doc = open(os.path.join(SRC, "docs", "rules.md")).read()
    documented = [r for cell in re.findall(r"^\| (`[^|]+`) \|", doc, re.M)
                  for r in re.findall(r"`([a-z0-9-]+)`", cell)]
    assert ids[:len(documented)] == documented
    assert len(set(ids)) == len(ids)
    broken = rules[ids.index("pickle-broken")]
    assert "CPython's unpickler would raise" in broken["help"]["text"]
    assert "`" not in broken["help"]["text"]
    assert broken["properties"]["tags"][0] == "security"
    levels = {"dangerous": "error", "suspicious": "warning",
              "unknown": "note"}
    _, jdoc = run_json(PICKLES)
    want = [(("file://" if f["path"].startswith("/") else "") + f["path"],
             x["rule"], x["layer"],
             x["offset"] if x["layer"] is None else None,
             levels[x["severity"]])
            for f in jdoc["files"] for x in f["findings"]
            if x["severity"] != "info"]
    assert any(w[2] is not None for w in want)  # members are covered
    got = []
    for r in run0["results"]:
        assert ids[r["ruleIndex"]] == r["ruleId"]
        loc = r["locations"][0]["physicalLocation"]
        uri = loc["artifactLocation"]["uri"]
        off = loc.get("region", {}).get("byteOffset")
        layer = r["properties"]["layer"]
        if layer is None:
            assert off == r["properties"]["offset"]
            assert "logicalLocations" not in r["locations"][0]
        else:
            # an offset inside a member is not an offset in the file
            assert off is None
            assert r["locations"][0]["logicalLocations"][0][
                "fullyQualifiedName"] == uri[len("file://"):] + "!" + layer
        got.append((uri, r["ruleId"], layer, off, r["level"]))
    assert got == want
    assert run0["invocations"][0]["exitCode"] == 1
    assert run0["invocations"][0]["executionSuccessful"] is True


def run_json(*paths):
    p = run("scan", "--format", "json", *paths)
    return p.returncode, json.loads(p.stdout)


def test_sarif_uris_and_incomplete_scans(tmp_path):
    odd = tmp_path / "we ird#%.pkl"
    odd.write_bytes(open(fixture("pickle", "mal_inst.pkl"), "rb").read())
    rc, out, _ = scan("--format", "sarif", "--max-opcodes", "2", str(odd))
    res = json.loads(out)["runs"][0]["results"]
    uri = res[0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"]
    assert uri.startswith("file:///") and uri.endswith("/we%20ird%23%25.pkl")
    assert [r["ruleId"] for r in res] == ["limit"]
    assert res[0]["level"] == "warning"
    inv = json.loads(out)["runs"][0]["invocations"][0]
    assert rc == 2 and inv["exitCode"] == 2
    assert inv["executionSuccessful"] is False


@pytest.mark.parametrize("fmt", ["text", "json", "jsonl", "sarif"])
def test_jobs_give_identical_results(fmt, tmp_path):
    # many files of different sizes, so that threads finish out of order
    for i in range(60):
        src = sorted(os.listdir(PICKLES))[i % 48]
        data = open(os.path.join(PICKLES, src), "rb").read()
        (tmp_path / ("f%03d.pkl" % i)).write_bytes(data * (1 + i % 7))
    outs = []
    for j in ("1", "2", "4", "16"):
        rc, out, _ = scan("--format", fmt, "--no-color", "-j", j,
                          str(tmp_path), PICKLES)
        if fmt == "text":
            out = out.rpartition("modelgate: ")[0]
        elif fmt == "jsonl":
            out = [no_time(json.loads(l)) for l in out.splitlines()]
        else:
            out = no_time(json.loads(out))
        outs.append((rc, out))
    assert all(o == outs[0] for o in outs[1:])


def run_on_pty(args, stdout_tty=True, stderr_tty=False, env=None):
    """Run modelgate with stdout and/or stderr on a terminal."""
    master, slave = pty.openpty()
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.update(env or {})
    p = subprocess.Popen([BIN, *args],
                         stdout=slave if stdout_tty else subprocess.PIPE,
                         stderr=slave if stderr_tty else subprocess.PIPE,
                         env=e)
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    out, err = p.communicate()
    os.close(master)
    return p.returncode, b"".join(chunks), out, err


def test_colour_only_on_a_terminal():
    mal = fixture("pickle", "mal_reverse_shell.pkl")
    _, tty, _, _ = run_on_pty(["scan", mal])
    assert b"\x1b[1;31mDANGEROUS\x1b[0m" in tty
    _, tty, _, _ = run_on_pty(["scan", "--no-color", mal])
    assert b"\x1b[" not in tty
    _, tty, _, _ = run_on_pty(["scan", mal], env={"NO_COLOR": "1"})
    assert b"\x1b[" not in tty
    p = subprocess.run([BIN, "scan", mal], capture_output=True,
                       env={k: v for k, v in os.environ.items()
                            if k != "NO_COLOR"})
    assert b"\x1b[" not in p.stdout


def test_progress_line_only_on_a_terminal(tmp_path):
    big = tmp_path / "big.pkl"
    # 60 MB of list items: long enough for the progress line to show
    big.write_bytes(b"\x80\x02]q\x00" + (b"(" + b"K\x01" * 1000 + b"e") *
                    30000 + b".")
    small = fixture("pickle", "ok_plain_p2.pkl")
    rc, tty, out, _ = run_on_pty(["scan", "-f", "json", str(big), small],
                                 stdout_tty=False, stderr_tty=True)
    assert rc == 0
    assert re.search(rb"modelgate: [01]/2 files, [0-9.]+ MB, 0 findings",
                     tty), tty
    assert tty.endswith(b"\r\x1b[K")  # cleared at the end
    json.loads(out)  # stdout untouched
    _, tty, _, _ = run_on_pty(["scan", "--no-progress", str(big)],
                              stdout_tty=False, stderr_tty=True)
    assert b"files," not in tty
    p = run("scan", str(big))
    assert b"files," not in p.stderr


def test_bad_format_and_summary_counts():
    assert run("scan", "--format", "xml", EXAMPLES).returncode == 2
    _, out, _ = scan("--format", "json", EXAMPLES, "/nonexistent")
    s = json.loads(out)["summary"]
    assert s["not_scanned"] == 1 and s["files"] == 6 and s["cached"] == 0
    assert s["bytes"] == sum(os.path.getsize(os.path.join(EXAMPLES, f))
                             for f in os.listdir(EXAMPLES))


def fixture_files():
    """Every committed fixture but the one libhdf5 loops on (its child is
    stopped by the time limit: 30 s of nothing new here)."""
    out = []
    for d in sorted(os.listdir(FIXTURES)):
        if d in ("gen", "sarif"):
            continue
        for f in sorted(os.listdir(os.path.join(FIXTURES, d))):
            if f != "err_libhdf5_loop.h5":
                out.append(os.path.join(FIXTURES, d, f))
    return out


def documented_rules():
    doc = open(os.path.join(SRC, "docs", "rules.md")).read()
    return [r for cell in re.findall(r"^\| (`[^|]+`) \|", doc, re.M)
            for r in re.findall(r"`([a-z0-9-]+)`", cell)]


def test_every_format_and_container_through_the_schemas():
    """The formats and containers beside pickle (safetensors, GGUF, Keras,
    HDF5, ONNX, SavedModel, chat templates; ZIP, 7z, tar, compressed
    streams) in JSON, JSON Lines and SARIF: valid, the same findings in
    each, every rule documented in docs/rules.md, members as logical
    locations."""
    paths = fixture_files()
    _, doc = run_json(*paths)
    jsonschema.Draft7Validator(json.load(open(os.path.join(
        SCHEMA_DIR, "report-v1.json")))).validate(doc)
    formats = {f["format"] for f in doc["files"]}
    assert {"safetensors", "gguf", "keras-json", "hdf5", "onnx",
            "tf-savedmodel", "jinja-template", "zip", "7z", "tar", "gzip",
            "xz", "zstd"} <= formats, formats
    _, out, _ = scan("--format", "jsonl", *paths)
    v = line_validator()
    lines = [json.loads(l) for l in out.splitlines()]
    for l in lines:
        v.validate(l)
    assert [{k: x for k, x in l.items() if k not in ("schema", "type")}
            for l in lines[:-1]] == doc["files"]
    _, out, _ = scan("--format", "sarif", *paths)
    sarif = json.loads(out)
    sarif_validator().validate(sarif)
    documented = documented_rules()
    emitted = {x["rule"] for f in doc["files"] for x in f["findings"]}
    assert emitted <= set(documented), emitted - set(documented)
    run0 = sarif["runs"][0]
    assert len(run0["tool"]["driver"]["rules"]) == len(documented)
    # info findings stay out of SARIF, but for incomplete scans
    want = [(f["path"], x["rule"], x["layer"]) for f in doc["files"]
            for x in f["findings"]
            if x["severity"] != "info" or x["rule"] in ("limit", "io-error")]
    got = []
    for r in run0["results"]:
        assert r["ruleIndex"] == documented.index(r["ruleId"])
        loc = r["locations"][0]
        uri = loc["physicalLocation"]["artifactLocation"]["uri"]
        path = uri[len("file://"):]
        layer = r["properties"]["layer"]
        if layer is not None:
            assert "region" not in loc["physicalLocation"]
            assert loc["logicalLocations"][0]["fullyQualifiedName"] == \
                path + "!" + layer
        got.append((path, r["ruleId"], layer))
    assert got == want
    assert any(l and "!" in l for _, _, l in got)  # nested members
