"""Containers: ZIP as PyTorch reads it (every differential), PyTorch ZIP
and legacy layouts, numpy, joblib, zlib; real files written by Debian's
torch, numpy, joblib and scikit-learn; bombs."""
import json
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import FIXTURES, SRC, run, scan_json

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import hostile  # noqa: E402

ZIPS = os.path.join(FIXTURES, "zip")
PY = "/usr/bin/python3"

# fixture: (verdict, [(rule, layer)] that must be there)
EXPECT = {
    "torch_benign.pt": ("safe", []),
    "torch_malicious.pt": ("dangerous", [("pickle-call", "archive/data.pkl")]),
    "torch_broken_payload.pt": ("dangerous", [
        ("pickle-call", "archive/data.pkl"),
        ("pickle-broken", "archive/data.pkl")]),
    "torch_deflated.pt": ("dangerous", [("pickle-call", "archive/data.pkl")]),
    "zip_flag_encrypted.pt": ("dangerous", [
        ("zip-flags", None), ("pickle-call", "archive/data.pkl")]),
    "zip_bad_crc.pt": ("dangerous", [
        ("zip-crc", None), ("pickle-call", "archive/data.pkl")]),
    "zip_name_mismatch.pt": ("dangerous", [
        ("zip-name-mismatch", None), ("pickle-call", "archive/data.pkl")]),
    "zip_duplicate.pt": ("dangerous", [
        ("zip-duplicate", None), ("pickle-call", "archive/data.pkl")]),
    "zip_prefix_pickle.pt": ("dangerous", [
        ("pickle-call", None), ("zip-appended", None)]),
    "zip_trailing.zip": ("dangerous", [
        ("zip-trailing", None), ("pickle-call", "<trailing@114>")]),
    "zip_gap.zip": ("dangerous", [("zip-gap", None),
                                  ("pickle-call", "<gap@41>")]),
    "zip_overlap.zip": ("dangerous", [("zip-overlap", None)]),
    "zip_odd_names.zip": ("dangerous", [
        ("pickle-call", "README.md"), ("pickle-call", "weights.safetensors"),
        ("pickle-call", "noextension"), ("pickle-call", "model.bin")]),
    "torch_missing_storage.pt": ("suspicious",
                                 [("torch-missing-storage", None)]),
    "npy_object_malicious.npy": ("dangerous", [("pickle-call", None)]),
    "npy_benign.npy": ("safe", []),
    "npy_bad_header.npy": ("suspicious", [("npy-header", None)]),
    "npy_short_data.npy": ("suspicious", [("npy-header", None)]),
    "npz_malicious.npz": ("dangerous", [("pickle-call", "b.npy")]),
    "legacy_benign.pt": ("safe", []),
    "legacy_malicious.pt": ("dangerous", [("pickle-call", None)]),
    "legacy_hidden_after.pt": ("dangerous", [("torch-layout", None),
                                             ("pickle-call", None)]),
    # magic number computed, not a literal: read as plain pickles, and the
    # raw storage bytes after them are not a pickle
    "legacy_computed_magic.pt": ("suspicious",
                                 [("pickle-trailing-data", None)]),
    "zlib_malicious.joblib": ("dangerous", [("pickle-call", "<zlib>")]),
}


def test_every_fixture_has_an_expectation():
    assert sorted(os.listdir(ZIPS)) == sorted(EXPECT)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_container_fixture(name):
    rc, doc = scan_json(os.path.join(ZIPS, name))
    f = doc["files"][0]
    verdict, needed = EXPECT[name]
    assert f["verdict"] == verdict, json.dumps(f, indent=1)
    got = {(x["rule"], x["layer"]) for x in f["findings"]}
    for rule, layer in needed:
        assert (rule, layer) in got, (rule, layer, sorted(got))
    assert f["complete"] is True


def test_only_central_directory_and_pickles_are_read(tmp_path):
    """A checkpoint with 64 MiB of tensor data: the scan reads a few KiB."""
    p = tmp_path / "big.pt"
    data_pkl = open(os.path.join(FIXTURES, "pickle",
                                 "ok_torch_state_dict_data.pkl"), "rb").read()
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/data/0", b"\x00" * (48 << 20))
        z.writestr("archive/data/1", b"\x00" * (16 << 20))
        z.writestr("archive/version", "3\n")
    rc, doc = scan_json(str(p))
    f = doc["files"][0]
    assert f["verdict"] == "safe" and rc == 0
    assert f["bytes_read"] < 300_000, f["bytes_read"]


REAL = r'''
import collections, sys, torch, numpy as np, joblib
import sklearn.linear_model, sklearn.preprocessing, sklearn.tree
out = sys.argv[1]
torch.manual_seed(0)
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.bn = torch.nn.BatchNorm1d(3)
    def forward(self, x):
        return self.fc(x)
m = Net()
for zipped in (True, False):
    tag = "zip" if zipped else "legacy"
    torch.save(m.state_dict(), f"{out}/sd_{tag}.pt",
               _use_new_zipfile_serialization=zipped)
    torch.save(m, f"{out}/whole_{tag}.pt",
               _use_new_zipfile_serialization=zipped)
    d = {str(t): torch.ones(3, dtype=t) for t in (
        torch.float32, torch.float64, torch.float16, torch.bfloat16,
        torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64,
        torch.bool, torch.complex64, torch.complex128)}
    d["view"] = torch.arange(10.)[2:5]
    d["transposed"] = torch.arange(12.).reshape(3, 4).t()
    d["shared"] = d["view"]
    d["param"] = torch.nn.Parameter(torch.ones(2))
    d["q"] = torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.qint8)
    torch.save(d, f"{out}/dtypes_{tag}.pt",
               _use_new_zipfile_serialization=zipped)
np.save(f"{out}/arr.npy", np.arange(10))
np.save(f"{out}/obj.npy", np.array(["a", 1, None], dtype=object))
np.save(f"{out}/rec.npy", np.zeros(3, dtype=[("a", "<f4"), ("b", "<i8", (2,))]))
np.savez(f"{out}/arrs.npz", a=np.arange(3), b=np.ones((2, 2)))
np.savez_compressed(f"{out}/arrsc.npz", a=np.arange(3))
x = np.random.RandomState(0).rand(30, 3)
y = np.arange(30) % 2
joblib.dump({"a": np.arange(5), "o": np.array(["x", "yy"], dtype=object)},
            f"{out}/plain.joblib")
for c in (3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)):
    name = c if isinstance(c, int) else c[0]
    joblib.dump({"a": np.arange(5)}, f"{out}/c_{name}.joblib", compress=c)
joblib.dump(sklearn.linear_model.LogisticRegression().fit(x, y),
            f"{out}/lr.joblib")
joblib.dump(sklearn.tree.DecisionTreeClassifier().fit(x, y),
            f"{out}/tree.joblib")
joblib.dump(sklearn.preprocessing.LabelEncoder().fit(["a", "b", "c"]),
            f"{out}/labels.joblib")
'''


@pytest.fixture(scope="module")
def real_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("real")
    p = subprocess.run([PY, "-c", REAL, str(d)], capture_output=True,
                       timeout=600)
    if p.returncode != 0:
        pytest.fail(p.stderr.decode()[-2000:])
    return d


def test_real_files_are_never_suspicious(real_files):
    rc, doc = scan_json(str(real_files))
    names = {os.path.basename(f["path"]): f for f in doc["files"]}
    assert len(names) == 20, sorted(names)
    for name, f in names.items():
        assert f["verdict"] in ("safe", "unknown"), json.dumps(f, indent=1)
        assert f["complete"], name
    # state dicts and plain data are safe; whole models and estimators
    # import classes the allowlist does not know
    for name in ("sd_zip.pt", "sd_legacy.pt", "dtypes_zip.pt",
                 "dtypes_legacy.pt", "arr.npy", "obj.npy", "rec.npy",
                 "arrs.npz", "arrsc.npz", "plain.joblib", "c_3.joblib"):
        assert names[name]["verdict"] == "safe", json.dumps(names[name])
    assert names["sd_zip.pt"]["format"] == "pytorch"
    assert names["sd_legacy.pt"]["format"] == "pytorch-legacy"


MAL_REAL = r'''
import os, sys, zipfile, torch, numpy as np, joblib
out = sys.argv[1]
class Evil:
    def __reduce__(self):
        return (os.system, ("true",))
# joblib: the payload after the raw bytes of an array, in an object array,
# and compressed
arr = np.arange(1000, dtype=np.float64)
joblib.dump([arr, Evil()], f"{out}/after_array.joblib")
joblib.dump([arr, np.array(["a", Evil()], dtype=object)],
            f"{out}/object_array.joblib")
joblib.dump([arr, Evil()], f"{out}/gzip.joblib", compress=("gzip", 3))
# TorchScript: a real torch.jit.save, and the same archive with a
# malicious constants.pkl
src = f"{out}/m.py"
with open(src, "w") as f:
    f.write("import torch\n"
            "class M(torch.nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = torch.nn.Linear(3, 2)\n"
            "    def forward(self, x):\n"
            "        return self.fc(x) * 2.5\n")
sys.path.insert(0, out)
import m
torch.jit.save(torch.jit.script(m.M()), f"{out}/ts.pt")
with zipfile.ZipFile(f"{out}/ts.pt") as zi, \
        zipfile.ZipFile(f"{out}/ts_mal.pt", "w") as zo:
    for i in zi.infolist():
        data = zi.read(i)
        if i.filename.endswith("/constants.pkl"):
            data = open(sys.argv[2], "rb").read()
        zo.writestr(i, data)
os.unlink(src)
'''


@pytest.fixture(scope="module")
def real_malicious(tmp_path_factory):
    d = tmp_path_factory.mktemp("realmal")
    p = subprocess.run([PY, "-c", MAL_REAL, str(d),
                        os.path.join(FIXTURES, "pickle",
                                     "mal_os_system_p0.pkl")],
                       capture_output=True, timeout=600)
    if p.returncode != 0:
        pytest.fail(p.stderr.decode()[-2000:])
    return d


@pytest.mark.parametrize("name,layer", [
    ("after_array.joblib", None), ("object_array.joblib", None),
    ("gzip.joblib", "data")])
def test_real_joblib_payloads_are_dangerous(real_malicious, name, layer):
    rc, doc = scan_json(str(real_malicious / name))
    f = doc["files"][0]
    assert rc == 1 and f["verdict"] == "dangerous", json.dumps(f, indent=1)
    calls = [x for x in f["findings"] if x["rule"] == "pickle-call" and
             x["severity"] == "dangerous"]
    assert calls and calls[0]["name"] == "system"
    assert calls[0]["layer"] == layer
    # the payload comes after the 8,000 bytes of the float64 array
    assert calls[0]["offset"] > 8000


def test_torchscript_is_recognised_and_its_pickles_scanned(real_malicious):
    rc, doc = scan_json(str(real_malicious / "ts.pt"))
    f = doc["files"][0]
    assert f["format"] == "torchscript" and f["complete"]
    # the model's own classes (__torch__.*) are unknown, nothing worse
    assert f["verdict"] == "unknown" and rc == 0, json.dumps(f, indent=1)
    layers = {x["layer"] for x in f["findings"]}
    assert "ts/data.pkl" in layers
    assert any(x.endswith(".debug_pkl") for x in layers), layers
    rc, doc = scan_json(str(real_malicious / "ts_mal.pt"))
    f = doc["files"][0]
    assert f["format"] == "torchscript"
    assert rc == 1 and f["verdict"] == "dangerous"
    assert ("pickle-call", "ts/constants.pkl") in {
        (x["rule"], x["layer"]) for x in f["findings"]}


def test_zip_bomb_ends_fast(tmp_path):
    p = tmp_path / "bomb.zip"
    p.write_bytes(hostile.zip_bomb(2 << 30))  # 2 GiB of zeros in ~2 MB
    proc = run("scan", "--format", "json", str(p))
    f = json.loads(proc.stdout)["files"][0]
    assert f["verdict"] == "error" and proc.returncode == 2
    lim = {x["name"] for x in f["findings"] if x["rule"] == "limit"}
    assert "max-ratio" in lim


def test_nested_zips_stop_at_max_depth(tmp_path):
    data = open(os.path.join(FIXTURES, "pickle", "mal_os_system_p0.pkl"),
                "rb").read()
    for i in range(20):
        p = tmp_path / f"n{i}.zip"
        with zipfile.ZipFile(p, "w") as z:
            z.writestr(f"level{i}", data)
        data = p.read_bytes()
    proc = run("scan", "--format", "json", "--max-depth", "8", str(p))
    f = json.loads(proc.stdout)["files"][0]
    assert f["verdict"] == "error" and not f["complete"]
    assert any(x["rule"] == "limit" and x["name"] == "max-depth"
               for x in f["findings"])
    proc = run("scan", "--format", "json", "--max-depth", "30", str(p))
    f = json.loads(proc.stdout)["files"][0]
    assert f["verdict"] == "dangerous"
    layer = [x["layer"] for x in f["findings"] if x["rule"] == "pickle-call"]
    assert layer and layer[0].count("!") == 19


def test_many_members(tmp_path):
    p = tmp_path / "many.zip"
    with zipfile.ZipFile(p, "w") as z:
        for i in range(2001):
            z.writestr(f"m{i}", b"x")
    proc = run("scan", "--format", "json", "--max-members", "2000", str(p))
    f = json.loads(proc.stdout)["files"][0]
    assert f["verdict"] == "error"
    assert any(x["rule"] == "limit" and x["name"] == "max-members"
               for x in f["findings"])
    proc = run("scan", "--format", "json", str(p))
    assert json.loads(proc.stdout)["files"][0]["verdict"] == "safe"


def test_zip64_archive_is_read(tmp_path):
    p = tmp_path / "z64.zip"
    mal = open(os.path.join(FIXTURES, "pickle", "mal_inst.pkl"), "rb").read()
    with zipfile.ZipFile(p, "w") as z:
        with z.open("payload", "w", force_zip64=True) as w:
            w.write(mal)
    rc, doc = scan_json(str(p))
    assert doc["files"][0]["verdict"] == "dangerous"
