"""modelgate scan on containers opened through libarchive (7z, tar, gzip,
bzip2, xz, lzma, zstd, lz4): verdicts of every fixture, layer paths in the
JSON report, the published 7z case, nesting and its limit, PyTorch's old
tar layout (checked against torch.load itself), and the generator."""
import json
import os
import subprocess
import sys

import pytest

from conftest import FIXTURES, SRC, run, scan_json

ARCHIVES = os.path.join(FIXTURES, "archive")
GEN = os.path.join(SRC, "tests", "fixtures", "gen", "make_archives.py")
ALL = sorted(os.listdir(ARCHIVES))

VERDICT = {"mal": "dangerous", "sus": "suspicious", "ok": "safe",
           "err": "error", "unk": "unknown"}
EXIT = {"dangerous": 1, "suspicious": 1, "safe": 0, "unknown": 0,
        "error": 2}
FORMAT = {".7z": "7z", ".tar": "tar", ".gz": "gzip", ".bz2": "bzip2",
          ".xz": "xz", ".lzma": "lzma", ".zst": "zstd", ".lz4": "lz4"}


def scan(name, *extra):
    rc, doc = scan_json(os.path.join(ARCHIVES, name), extra=extra)
    (f,) = doc["files"]
    return rc, f


def layers(f, rule, severity=None):
    return {x["layer"] for x in f["findings"] if x["rule"] == rule and
            (severity is None or x["severity"] == severity)}


@pytest.mark.parametrize("name", ALL)
def test_fixture_verdict(name):
    rc, f = scan(name)
    want = VERDICT[name.split("_")[0]]
    assert f["verdict"] == want, json.dumps(f, indent=1)
    assert f["format"] == FORMAT[os.path.splitext(name)[1]]
    assert rc == EXIT[want]
    if want == "error":
        assert not f["complete"]
    if want in ("safe", "unknown"):
        assert f["complete"]


# a malicious pickle in every container, under any name: dangerous, with
# the layer path that leads to it
LAYERS = [
    ("mal_model_bin.tar", "model.bin"),
    ("mal_model_bin.tar.gz", "data!model.bin"),
    ("mal_model_bin.tar.bz2", "data!model.bin"),
    ("mal_model_bin.tar.xz", "data!model.bin"),
    ("mal_model_bin.tar.lzma", "data!model.bin"),
    ("mal_model_bin.tar.zst", "data!model.bin"),
    ("mal_model_bin.tar.lz4", "data!model.bin"),
    ("mal_model_bin.7z", "model.bin"),
    ("mal_readme_md.tar", "README.md"),
    ("mal_no_extension.tar", "weights"),
    ("mal_safetensors_name.7z", "weights.safetensors"),
    ("mal_unicode_name.7z", "модель/данные.pkl"),
    ("mal_bad_utf16_name.7z", "?"),
    ("mal_v7.tar", "model.pt"),
    ("mal_pax_long_name.tar", "folder/" + "x" * 150 + "/data.pkl"),
    ("mal_gnu_long_name.tar", "folder/" + "y" * 150 + "/data.pkl"),
    ("mal_os_system.pkl.gz", "data"),
    ("mal_os_system.pkl.bz2", "data"),
    ("mal_os_system.pkl.xz", "data"),
    ("mal_os_system.pkl.lzma", "data"),
    ("mal_os_system.pkl.zst", "data"),
    ("mal_os_system.pkl.lz4", "data"),
    ("mal_legacy_frame.pkl.lz4", "data"),
    ("mal_reserved_flags.pkl.gz", "data"),
    ("mal_odd_dictionary.pkl.lzma", "data"),
    ("mal_nested.7z.xz", "data!inner.tar.gz!data!payload.pkl"),
    ("mal_after_bad_member.7z", "second.pkl"),
    ("mal_truncated.tar.gz", "data!a.pkl"),
    ("mal_torch_legacy_pickle.tar", "pickle"),
]


@pytest.mark.parametrize("name,layer", LAYERS)
def test_layer_of_the_payload(name, layer):
    rc, f = scan(name)
    assert rc == 1
    assert f["verdict"] == "dangerous"
    calls = [x for x in f["findings"] if x["rule"] == "pickle-call" and
             x["severity"] == "dangerous"]
    assert calls and {x["layer"] for x in calls} == {layer}, calls
    assert calls[0]["module"] == "os" and calls[0]["name"] == "system"


def test_text_output_names_the_layer():
    p = run("scan", "--no-color", "--no-summary",
            os.path.join(ARCHIVES, "mal_model_bin.tar.xz"))
    out = p.stdout.decode()
    assert "mal_model_bin.tar.xz!data!model.bin: DANGEROUS pickle-call" in out
    assert out.rstrip().endswith("verdict dangerous (xz)")


def test_published_case_pytorch_folder_as_7z():
    """archive/data.pkl with a payload, then garbage and no STOP, packed
    with archive/version and archive/data/0 as 7z."""
    rc, f = scan("mal_torch_folder_broken.7z")
    assert rc == 1 and f["verdict"] == "dangerous" and f["complete"]
    pkl = [x for x in f["findings"] if x["layer"] == "archive/data.pkl"]
    rules = {(x["rule"], x["severity"]) for x in pkl}
    assert ("pickle-call", "dangerous") in rules
    assert ("pickle-broken", "suspicious") in rules
    brk = [x for x in pkl if x["rule"] == "pickle-broken"][0]
    call = [x for x in pkl if x["rule"] == "pickle-call"][0]
    assert call["module"] == "posix" and call["offset"] < brk["offset"] == 62
    assert any(x["rule"] == "indicator-shell" for x in pkl)


def test_published_case_made_by_7zip(tmp_path):
    """The same folder packed by 7-Zip itself, when it is installed."""
    tool = next((t for t in ("7zz", "7z", "7za") if any(
        os.access(os.path.join(d, t), os.X_OK)
        for d in os.environ.get("PATH", "").split(os.pathsep))), None)
    if tool is None:
        pytest.skip("7-Zip is not installed")
    sys.path.insert(0, os.path.dirname(GEN))
    import make_archives as ma
    root = tmp_path / "model"
    for name, data in ma.torch_folder(ma.MAL_BROKEN):
        path = root / name
        if data is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.write_bytes(data)
    out = tmp_path / "model.7z"
    subprocess.run([tool, "a", "-bd", "-mx=9", str(out), "archive"],
                   cwd=root, check=True, capture_output=True)
    rc, doc = scan_json(str(out))
    f = doc["files"][0]
    assert rc == 1 and f["verdict"] == "dangerous"
    assert "archive/data.pkl" in layers(f, "pickle-call", "dangerous")
    assert "archive/data.pkl" in layers(f, "pickle-broken")


def test_nested_to_the_depth_limit():
    name = "mal_nested.7z.xz"
    # xz -> data -> inner.tar.gz -> data -> payload.pkl: depth 4
    rc, f = scan(name, "--max-depth", "4")
    assert rc == 1 and f["verdict"] == "dangerous"
    rc, f = scan(name, "--max-depth", "3")
    assert rc == 2 and f["verdict"] == "error" and not f["complete"]
    lim = [x for x in f["findings"] if x["rule"] == "limit"]
    assert [x["name"] for x in lim] == ["max-depth"]
    assert lim[0]["layer"] == "data!inner.tar.gz!data"


def test_member_limit_and_spool_limit():
    rc, f = scan("ok_plain.tar", "--max-members", "2")
    assert rc == 2 and f["verdict"] == "error"
    assert [x["name"] for x in f["findings"] if x["rule"] == "limit"] == [
        "max-members"]
    rc, f = scan("mal_nested.7z.xz", "--max-spool-bytes", "100")
    assert rc == 2 and f["verdict"] == "error"
    assert "max-spool-bytes" in {x["name"] for x in f["findings"]
                                 if x["rule"] == "limit"}


def test_encrypted_is_never_clean():
    for name in ("err_encrypted.7z", "err_encrypted_header.7z"):
        rc, f = scan(name)
        assert rc == 2 and f["verdict"] == "error" and not f["complete"]
        assert layers(f, "archive-encrypted", "unknown") == {None}


def test_gzip_header_file_name_is_not_a_member_name(tmp_path):
    # gzip(1) stores the original name; it names nothing that is extracted,
    # so the one member is always "data" and the name is not judged.
    import struct
    import zlib
    payload = b"cos\nsystem\n(S'true'\ntR."
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(payload) + comp.flush()
    p = tmp_path / "named.gz"
    p.write_bytes(b"\x1f\x8b\x08\x08" + b"\0" * 4 + b"\0\xff" +
                  b"../../etc/evil.pkl\0" + body +
                  struct.pack("<II", zlib.crc32(payload), len(payload)))
    assert b"../../etc/evil.pkl" in p.read_bytes()
    rc, doc = scan_json(str(p))
    (f,) = doc["files"]
    assert rc == 1 and f["verdict"] == "dangerous"
    assert layers(f, "pickle-call", "dangerous") == {"data"}
    assert not layers(f, "archive-member-name")


def test_a_filter_nested_in_itself_is_a_layer(tmp_path):
    """gzip of gzip, xz of xz, lzma of lzma: each stream is a layer of its
    own (within --max-depth), not a second decoder libarchive stacks by
    bidding on decoded bytes."""
    sys.path.insert(0, os.path.dirname(GEN))
    import make_archives as arc
    mal = arc.MAL
    for ext, w in ((".gz", arc.gz), (".xz", arc.xz), (".lzma", arc.lzma_alone)):
        p = tmp_path / ("twice.pkl" + ext + ext)
        p.write_bytes(w(w(mal)))
        rc, doc = scan_json(str(p))
        (f,) = doc["files"]
        assert rc == 1 and f["complete"], (ext, f)
        assert layers(f, "pickle-call", "dangerous") == {"data!data"}, ext
        rc, doc = scan_json(str(p), extra=("--max-depth", "1"))
        assert doc["files"][0]["verdict"] == "error", ext


def test_lzma_bid_on_decoded_bytes_is_not_a_filter(tmp_path):
    """Decoded bytes that pass libarchive's weak lzma bid (a byte <= 224
    and a dictionary size: here a safetensors header of 1 MiB) are data,
    not a second lzma stream that then fails as corrupt."""
    data = open(os.path.join(FIXTURES, "safetensors",
                             "sus_header_past_eof.safetensors"), "rb").read()
    sys.path.insert(0, os.path.dirname(GEN))
    import make_archives as arc
    p = tmp_path / "st.safetensors.lzma"
    p.write_bytes(arc.lzma_alone(data))
    rc, doc = scan_json(str(p))
    (f,) = doc["files"]
    assert f["complete"] and not layers(f, "archive-corrupt"), f
    assert layers(f, "safetensors-header", "suspicious") == {"data"}


def test_stdin_and_folders(tmp_path):
    data = open(os.path.join(ARCHIVES, "mal_model_bin.tar.gz"), "rb").read()
    p = run("scan", "--format", "json", "-", input=data)
    f = json.loads(p.stdout)["files"][0]
    assert p.returncode == 1 and f["verdict"] == "dangerous"
    assert layers(f, "pickle-call", "dangerous") == {"data!model.bin"}
    p = run("scan", "--format", "json", ARCHIVES)
    doc = json.loads(p.stdout)
    assert doc["summary"]["files"] == len(ALL)


def torch_load(path):
    torch = pytest.importorskip("torch")
    return torch.load(path)


def test_torch_legacy_tar_is_what_torch_loads():
    """The generator's legacy tar is loaded by Debian's torch.load (so the
    layout is right) and is safe; the variants are each reported."""
    sd = torch_load(os.path.join(ARCHIVES, "ok_torch_legacy.tar"))
    assert sd["weight"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert sd["bias"].tolist() == [5.0, 6.0]
    rc, f = scan("ok_torch_legacy.tar")
    assert rc == 0 and f["verdict"] == "safe"
    assert not [x for x in f["findings"] if x["severity"] != "info"]
    # bytes after the last record: torch.load ignores them, we report them
    torch_load(os.path.join(ARCHIVES, "sus_torch_legacy_trailing.tar"))
    rc, f = scan("sus_torch_legacy_trailing.tar")
    assert layers(f, "torch-tar-layout", "suspicious") == {"storages"}
    # an unknown storage type: torch.load fails there, the pickle after it
    # is still found
    with pytest.raises(Exception):
        torch_load(os.path.join(ARCHIVES, "mal_torch_legacy_hidden.tar"))
    rc, f = scan("mal_torch_legacy_hidden.tar")
    assert layers(f, "pickle-call", "dangerous") == {"storages"}
    # a payload in the storage views pickle, structure intact
    rc, f = scan("mal_torch_legacy_views.tar")
    assert layers(f, "pickle-call", "dangerous") == {"storages"}
    assert not layers(f, "torch-tar-layout")


def test_fixtures_match_the_generator():
    p = subprocess.run([sys.executable, GEN, "--check"], capture_output=True)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
