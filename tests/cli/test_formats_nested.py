"""The formats of issue 4 (safetensors, GGUF, Keras JSON, HDF5, ONNX,
TensorFlow protobufs, Hugging Face templates) inside every container
modelgate opens: each fixture is packed into tar, tar.gz, ZIP and 7z
archives and into each compressed stream (gzip, bzip2, xz, lzma, zstd,
lz4), and its findings as a member must be exactly its findings as a file
(same rules, severities, messages, offsets, inner layers). A fixture
claimed by a container probe or taken for a pickle would lose its format's
findings, or gain format-unrecognised ones. Containers are written at run
time by the byte-exact writers of make_archives.py."""
import io
import os
import sys
import zipfile

import pytest

from conftest import FIXTURES, SRC, scan_json

sys.path.insert(0, os.path.join(SRC, "tests", "fixtures", "gen"))
import make_archives as arc  # noqa: E402

DIRS = ("safetensors", "gguf", "keras", "h5", "onnx", "tf", "hf")
# libhdf5 loops on this one until the time limit: once is enough
# (test_scan_formats.py)
SKIP = {"err_libhdf5_loop.h5"}
SEVERITY = ["info", "safe", "unknown", "suspicious", "dangerous"]


def fixtures():
    out = []
    for d in DIRS:
        for name in sorted(os.listdir(os.path.join(FIXTURES, d))):
            if name not in SKIP:
                with open(os.path.join(FIXTURES, d, name), "rb") as f:
                    out.append(("%s/%s" % (d, name), f.read()))
    return out


FIXTURE_FILES = fixtures()


def key(x, layer):
    return repr((layer, x["severity"], x["rule"], x["message"], x["offset"],
                 x["module"], x["name"]))


def direct_findings():
    """fixture -> sorted finding keys, scanning each fixture as a file."""
    paths = [os.path.join(FIXTURES, n) for n, _ in FIXTURE_FILES]
    _, doc = scan_json(*paths, extra=("-j", "2"))
    by = {}
    for f in doc["files"]:
        rel = os.path.relpath(f["path"], FIXTURES)
        by[rel] = sorted(key(x, x["layer"]) for x in f["findings"])
    assert sorted(by) == sorted(n for n, _ in FIXTURE_FILES)
    return by


def member_findings(findings, member):
    """The findings under one member's layer, with that prefix removed."""
    out = []
    for x in findings:
        lay = x["layer"] or ""
        if lay == member:
            out.append(key(x, None))
        elif lay.startswith(member + "!"):
            out.append(key(x, lay[len(member) + 1:]))
    return sorted(out)


def zip_of(members):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data,
                       zipfile.ZIP_DEFLATED)
    return b.getvalue()


ARCHIVES = {
    "models.tar": ("tar", lambda m: arc.tar(m), ""),
    "models.tar.gz": ("gzip", lambda m: arc.gz(arc.tar(m)), "data!"),
    "models.zip": ("zip", zip_of, ""),
    "models.7z": ("7z", lambda m: arc.sevenz(m), ""),
}

STREAMS = {
    ".gz": ("gzip", arc.gz),
    ".bz2": ("bzip2", arc.bz),
    ".xz": ("xz", arc.xz),
    ".lzma": ("lzma", arc.lzma_alone),
    ".zst": ("zstd", arc.zst),
    ".lz4": ("lz4", arc.lz4),
}


@pytest.fixture(scope="module")
def direct():
    return direct_findings()


def mismatch(direct, name, findings):
    """None when the member's findings are the file's, else both."""
    got = member_findings(findings, name)
    return None if got == direct else (name, got, direct)


@pytest.mark.parametrize("archive", sorted(ARCHIVES))
def test_formats_inside_archives(archive, direct, tmp_path):
    fmt, write, prefix = ARCHIVES[archive]
    p = tmp_path / archive
    p.write_bytes(write([(n, data) for n, data in FIXTURE_FILES]))
    rc, doc = scan_json(str(p))
    (f,) = doc["files"]
    assert f["format"] == fmt
    # the mal_ members make it dangerous; the err_ ones leave it incomplete
    assert f["verdict"] == "dangerous" and rc == 1
    assert f["complete"] is False
    bad = [mismatch(direct[name], prefix + name, f["findings"])
           for name, _ in FIXTURE_FILES]
    bad = [b for b in bad if b]
    assert not bad, "\n".join(map(repr, bad))


@pytest.mark.parametrize("ext", sorted(STREAMS))
def test_formats_inside_compressed_streams(ext, direct, tmp_path):
    fmt, write = STREAMS[ext]
    where = {}
    for i, (name, data) in enumerate(FIXTURE_FILES):
        p = tmp_path / ("%03d-%s%s" % (i, os.path.basename(name), ext))
        p.write_bytes(write(data))
        where[str(p)] = name
    _, doc = scan_json(str(tmp_path), extra=("-j", "2"))
    seen, bad = 0, []
    for f in doc["files"]:
        name = where[f["path"]]
        assert f["format"] == fmt, name
        m = mismatch(direct[name], "data", f["findings"])
        if m:
            bad.append((name,) + m)
            continue
        worst = max((SEVERITY.index(x["severity"]) for x in f["findings"]
                     if x["layer"] is not None), default=1)
        if os.path.basename(name).startswith("ok_"):
            assert f["verdict"] == "safe", (name, f["findings"])
            assert worst <= SEVERITY.index("safe")
        seen += 1
    assert not bad, "\n".join(map(repr, bad))
    assert seen == len(FIXTURE_FILES)


def test_benign_keras_archive_is_safe(tmp_path):
    """A .keras archive of benign members (config.json, metadata.json,
    model.weights.h5) scans safe; swapping in a Lambda config makes it
    dangerous, named by its member, inside a tar.gz too."""
    def read(*parts):
        with open(os.path.join(FIXTURES, *parts), "rb") as fh:
            return fh.read()

    def keras(config):
        return zip_of([("metadata.json", read("keras", "ok_metadata.json")),
                       ("config.json", read("keras", config)),
                       ("model.weights.h5",
                        read("h5", "ok_weights_only.h5"))])

    ok = tmp_path / "ok.keras"
    ok.write_bytes(keras("ok_config_keras3.json"))
    rc, doc = scan_json(str(ok))
    assert rc == 0 and doc["files"][0]["verdict"] == "safe", doc
    assert doc["files"][0]["format"] == "zip"
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(arc.gz(arc.tar([
        ("ok.keras", keras("ok_config_keras3.json")),
        ("model/bad.keras", keras("mal_lambda_keras3.json"))])))
    rc, doc = scan_json(str(bad))
    (f,) = doc["files"]
    lam = {x["layer"] for x in f["findings"] if x["rule"] == "keras-lambda"}
    assert lam == {"data!model/bad.keras!config.json"}
    assert f["verdict"] == "dangerous" and rc == 1
