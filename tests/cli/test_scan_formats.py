"""modelgate scan on the formats other than pickle: every fixture's verdict
and format, exit codes, the new limit options, Keras JSON parsing checked
against Python's own json.loads on thousands of mutated documents, a
SavedModel folder, and a .keras archive end to end (when the ZIP layer is
built in)."""
import json
import os
import random
import zipfile

import pytest

from conftest import FIXTURES, run, scan_json

FORMAT_DIRS = {
    "safetensors": {"safetensors"},
    "gguf": {"gguf"},
    "keras": {"keras-json"},
    "h5": {"hdf5"},
    "onnx": {"onnx"},
    "tf": {"tf-savedmodel", "tf-graphdef", "keras-metadata-pb",
           "tf-fingerprint"},
    "hf": {"hf-tokenizer-config", "jinja-template"},
}

PREFIX = {"ok_": "safe", "unk_": "unknown", "sus_": "suspicious",
          "mal_": "dangerous", "err_": "error"}


def expected(name):
    for p, v in PREFIX.items():
        if name.startswith(p):
            return v
    raise AssertionError(name)


@pytest.mark.parametrize("d", sorted(FORMAT_DIRS))
def test_fixture_verdicts(d):
    folder = os.path.join(FIXTURES, d)
    # libhdf5 loops on one fixture until the time limit: keep it short
    _, doc = scan_json(folder, extra=("--max-seconds", "5"))
    seen = 0
    for f in doc["files"]:
        name = os.path.basename(f["path"])
        assert f["verdict"] == expected(name), json.dumps(f, indent=1)
        assert f["format"] in FORMAT_DIRS[d], (name, f["format"])
        seen += 1
    assert seen == len(os.listdir(folder))


def test_exit_codes():
    p = run("scan", os.path.join(FIXTURES, "gguf", "ok_chatml_v3.gguf"))
    assert p.returncode == 0, p.stdout
    p = run("scan", os.path.join(FIXTURES, "gguf",
                                 "mal_template_cycler.gguf"))
    assert p.returncode == 1
    assert b"chat-template-injection" in p.stdout
    p = run("scan", os.path.join(FIXTURES, "onnx", "err_deep_subgraphs.onnx"))
    assert p.returncode == 2
    p = run("scan", "--fail-on", "dangerous",
            os.path.join(FIXTURES, "safetensors", "sus_gap.safetensors"))
    assert p.returncode == 0


@pytest.mark.parametrize("option,value,path,limit", [
    ("--max-json-values", "5", "keras/ok_config_keras3.json",
     "max-json-values"),
    ("--max-tensors", "1", "gguf/ok_chatml_v3.gguf", "max-tensors"),
    ("--max-nesting", "1", "gguf/ok_chatml_v3.gguf", "max-nesting"),
    ("--max-nesting", "2", "onnx/mal_external_in_subgraph.onnx",
     "max-nesting"),
    ("--max-header-bytes", "100", "safetensors/ok_small.safetensors",
     "max-header-bytes"),
])
def test_limit_options(option, value, path, limit):
    rc, doc = scan_json(os.path.join(FIXTURES, path), extra=(option, value))
    (f,) = doc["files"]
    assert f["complete"] is False
    assert any(x["rule"] == "limit" and x["name"] == limit
               for x in f["findings"]), f["findings"]
    assert rc in (1, 2)


def test_help_lists_the_format_limits():
    p = run("scan", "--help")
    for opt in (b"--max-json-values", b"--max-tensors", b"--max-nesting"):
        assert opt in p.stdout


def test_findings_quote_and_locate():
    _, doc = scan_json(os.path.join(FIXTURES, "gguf",
                                    "mal_template_lipsum.gguf"))
    (f,) = doc["files"]
    inj = [x for x in f["findings"] if x["rule"] == "chat-template-injection"]
    assert inj and inj[0]["severity"] == "dangerous"
    assert "`{{ lipsum.__globals__['os'].popen('echo hi').read() }}`" \
        in inj[0]["message"]
    assert inj[0]["offset"] > 0
    _, doc = scan_json(os.path.join(FIXTURES, "keras",
                                    "mal_module_os_system.json"))
    mod = [x for x in doc["files"][0]["findings"]
           if x["rule"] == "keras-module"][0]
    assert (mod["module"], mod["name"]) == ("os", "system")


# --- Keras JSON against Python's json.loads -------------------------------

ALPHABET = ['{', '}', '[', ']', ':', ',', '"', '\\', ' ', '\n', '0', '1',
            '-', '+', '.', 'e', 'E', 't', 'f', 'n', 'N', 'I', 'u', '\\u',
            '\\ud800', '\\udc00', '\\"', 'NaN', 'Infinity', '-Infinity',
            'true', 'null', '\x00', '\x1f', '\u00e9', '\ud7ff', '01', '1.',
            '1e', '"a"', ',,', '}}', ']]']


def mutate(rng, text):
    s = text
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(s) + 1)
        op = rng.random()
        if op < 0.35 and s:
            j = min(len(s), i + rng.randint(1, 4))
            s = s[:i] + s[j:]
        elif op < 0.75:
            s = s[:i] + rng.choice(ALPHABET) + s[i:]
        else:
            s = s[:i] + rng.choice(ALPHABET) + s[i + 1:]
    return s


def python_accepts(b):
    try:
        json.loads(b)
        return True
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


def test_keras_json_matches_python(tmp_path):
    """Every mutated config our scanner recognises is refused by our
    parser exactly when Python's json.loads(bytes) refuses it."""
    base = open(os.path.join(FIXTURES, "keras", "ok_config_keras3.json"),
                encoding="utf-8").read()
    # a prefix that keeps the document recognisable as Keras
    head = base[:base.index('"config"') + 10]
    rng = random.Random(20261126)
    truth = {}
    for k in range(3000):
        tail = mutate(rng, base[len(head):])
        raw = (head + tail).encode("utf-8", "surrogatepass")
        name = "m%04d.json" % k
        (tmp_path / name).write_bytes(raw)
        truth[name] = python_accepts(raw)
    _, doc = scan_json(str(tmp_path), extra=("-j", "2"))
    checked = 0
    for f in doc["files"]:
        name = os.path.basename(f["path"])
        if f["format"] != "keras-json":
            continue
        refused = any(x["rule"] == "keras-json" and
                      ("not valid JSON" in x["message"] or
                       "not decodable" in x["message"])
                      for x in f["findings"])
        assert refused == (not truth[name]), (
            name, (tmp_path / name).read_bytes()[len(head):], f["findings"])
        checked += 1
    assert checked > 2500
    assert 0 < sum(truth.values()) < len(truth)


def test_keras_json_encodings_match_python(tmp_path):
    cfg = open(os.path.join(FIXTURES, "keras", "mal_lambda_keras3.json"),
               encoding="utf-8").read()
    for enc in ("utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                "utf-32-le", "utf-32-be"):
        raw = cfg.encode(enc)
        assert python_accepts(raw), enc
        p = tmp_path / ("c-%s.json" % enc)
        p.write_bytes(raw)
        _, doc = scan_json(str(p))
        (f,) = doc["files"]
        assert f["format"] == "keras-json", enc
        assert f["verdict"] == "dangerous", enc


# --- folders and archives -------------------------------------------------

def test_savedmodel_folder(tmp_path):
    m = tmp_path / "model"
    (m / "variables").mkdir(parents=True)
    (m / "assets").mkdir()
    tf = os.path.join(FIXTURES, "tf")
    (m / "saved_model.pb").write_bytes(
        open(os.path.join(tf, "ok_saved_model.pb"), "rb").read())
    (m / "keras_metadata.pb").write_bytes(
        open(os.path.join(tf, "mal_keras_metadata_lambda.pb"), "rb").read())
    (m / "fingerprint.pb").write_bytes(
        open(os.path.join(tf, "ok_fingerprint.pb"), "rb").read())
    (m / "variables" / "variables.index").write_bytes(b"\0" * 64)
    (m / "assets" / "vocab.txt").write_text("a\nb\n")
    rc, doc = scan_json(str(m))
    by = {os.path.relpath(f["path"], str(m)): f for f in doc["files"]}
    assert by["saved_model.pb"]["verdict"] == "safe"
    assert by["saved_model.pb"]["format"] == "tf-savedmodel"
    assert by["keras_metadata.pb"]["verdict"] == "dangerous"
    assert by["fingerprint.pb"]["format"] == "tf-fingerprint"
    assert by["fingerprint.pb"]["verdict"] == "safe"
    assert rc == 1


def zip_layer_present(tmp_path):
    z = tmp_path / "probe.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.txt", "x")
    _, doc = scan_json(str(z))
    return doc["files"][0]["format"] == "zip"


def test_keras_archive_end_to_end(tmp_path):
    """A .keras archive as Keras 3 writes it (config.json, metadata.json,
    model.weights.h5): the Lambda in config.json is found through the ZIP
    layer, by content."""
    if not zip_layer_present(tmp_path):
        pytest.skip("the ZIP layer is not built into this modelgate")
    k = os.path.join(FIXTURES, "keras")
    arc = tmp_path / "model.keras"
    with zipfile.ZipFile(arc, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json",
                    open(os.path.join(k, "ok_metadata.json"), "rb").read())
        zf.writestr("config.json",
                    open(os.path.join(k, "mal_lambda_keras3.json"),
                         "rb").read())
        zf.writestr("model.weights.h5",
                    open(os.path.join(FIXTURES, "h5", "ok_weights_only.h5"),
                         "rb").read())
    rc, doc = scan_json(str(arc))
    (f,) = doc["files"]
    lam = [x for x in f["findings"] if x["rule"] == "keras-lambda"]
    assert lam and lam[0]["layer"].endswith("config.json")
    assert f["verdict"] == "dangerous" and rc == 1


def test_allow_applies_to_keras_references():
    path = os.path.join(FIXTURES, "keras", "unk_custom_layer.json")
    _, doc = scan_json(path)
    assert doc["files"][0]["verdict"] == "unknown"
    _, doc = scan_json(path, extra=("--allow", "my_package.layers.MyLayer"))
    assert doc["files"][0]["verdict"] == "safe"
    # an allowlist entry never hides a dangerous reference elsewhere
    _, doc = scan_json(os.path.join(FIXTURES, "keras",
                                    "mal_module_os_system.json"),
                       extra=("--allow", "my_package.layers.MyLayer"))
    assert doc["files"][0]["verdict"] == "dangerous"
