"""modelgate explain: goldens for every pickle fixture (malicious, benign,
broken), agreement with the scan, robustness on broken and random input,
real torch/numpy files, FILE!MEMBER (members of ZIP, 7z, tar and
compressed streams, nested, and embedded pickles) and standard input.

Goldens live in tests/cli/golden/explain/NAME.txt; regenerate them with
MG_UPDATE_GOLDEN=1 and review the diff."""
import bz2
import gzip
import io
import lzma
import os
import random
import re
import tarfile
import zipfile

import pytest

from conftest import FIXTURES, SRC, UPDATE_GOLDEN, fixture, run, scan_json

PICKLES = os.path.join(FIXTURES, "pickle")
GOLDEN = os.path.join(SRC, "tests", "cli", "golden", "explain")
ALL = sorted(f for f in os.listdir(PICKLES) if f.endswith(".pkl"))


def explain(*args, input=None):
    p = run("explain", *args, input=input)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


@pytest.mark.parametrize("name", ALL)
def test_golden(name):
    rc, out, err = explain(os.path.join("tests", "fixtures", "pickle", name))
    assert rc == 0 and err == "", err
    path = os.path.join(GOLDEN, name[:-4] + ".txt")
    if UPDATE_GOLDEN:
        open(path, "w").write(out)
    assert out == open(path).read()


def test_malicious_reads_as_python():
    _, out, _ = explain(fixture("pickle", "mal_os_system_p0.pkl"))
    lines = [l for l in out.splitlines() if l and not l.startswith("#")]
    assert lines[0].startswith("from os import system ")
    assert "# @0 GLOBAL DANGEROUS: starts processes" in lines[0]
    assert re.match(r"_1 = system\('echo modelgate-test'\) +# @\d+ REDUCE "
                    r"DANGEROUS", lines[1]), lines[1]
    assert lines[2] == "result = _1"


def test_getattr_chain_names_each_step():
    _, out, _ = explain(os.path.join(SRC, "examples", "getattr_chain.bin"))
    assert "_1 = __import__('os')" in out
    assert re.search(r"_2 = getattr\(_1, 'system'\) .*-> os\.system", out)
    assert "_3 = _2('echo modelgate-test')" in out


def test_benign_state_dict_is_compact():
    _, out, _ = explain(fixture("pickle", "ok_torch_state_dict_data.pkl"))
    assert "DANGEROUS" not in out and "UNKNOWN" not in out
    assert "'weight': Tensor(float32, [2, 2])" in out
    assert "'bias': Tensor(float32, [2])" in out
    # allowlisted calls are not statements in the compact view
    assert not re.search(r"^_\d+ = ", out, re.M)


def test_full_view_shows_every_call():
    rc, out, _ = explain("--full",
                         fixture("pickle", "ok_torch_state_dict_data.pkl"))
    assert rc == 0
    assert re.search(r"^_\d+ = _rebuild_tensor_v2\(persistent_load\(\("
                     r"'storage', FloatStorage, '0', 'cpu', 4\)\), 0, "
                     r"\(2, 2\), \(2, 1\), False, _\d+\)", out, re.M), out
    assert "Tensor(" not in out


def test_real_torch_checkpoint(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(768, 768),
                              torch.nn.LayerNorm(768))
    path = tmp_path / "m.pt"
    torch.save(net.state_dict(), path)
    z = zipfile.ZipFile(path)
    name = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
    data = tmp_path / "data.pkl"
    data.write_bytes(z.read(name))
    rc, out, _ = explain(str(data))
    assert rc == 0
    body = out.split("result = ", 1)[1]
    assert body.splitlines() == [
        "OrderedDict({",
        "    '0.weight': Tensor(float32, [768, 768]),",
        "    '0.bias': Tensor(float32, [768]),",
        "    '1.weight': Tensor(float32, [768]),",
        "    '1.bias': Tensor(float32, [768]),",
        "})"]
    # a whole module, not a state dict: the classes are not allowlisted
    torch.save(net, path)
    z = zipfile.ZipFile(path)
    name = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
    data.write_bytes(z.read(name))
    rc, out, _ = explain(str(data))
    assert "from torch.nn.modules.linear import Linear" in out
    assert re.search(r"^_\d+ = Linear\(\) +# @\d+ NEWOBJ UNKNOWN", out, re.M)
    assert "'weight': Parameter(Tensor(float32, [768, 768]))," in out


def test_real_numpy_array(tmp_path):
    np = pytest.importorskip("numpy")
    import pickle
    data = pickle.dumps(np.zeros((3, 4), dtype=np.int16), protocol=2)
    rc, out, _ = explain("-", input=data)
    assert rc == 0 and "result = ndarray(int16, [3, 4])" in out
    obj = pickle.dumps(np.array([1, "a"], dtype=object), protocol=2)
    rc, out, _ = explain("-", input=obj)
    assert "result = ndarray(object, [2], [1, 'a'])" in out


def test_broken_stream_explained_up_to_break():
    rc, out, _ = explain(fixture("pickle", "mal_broken_after_payload.pkl"))
    assert rc == 0
    assert re.search(r"^system\('bash -i .*\) +# @61 REDUCE DANGEROUS", out,
                     re.M)
    assert "# !! @62: the stream breaks here: invalid load key" in out
    assert "result =" not in out


def test_trailing_garbage_and_second_stream():
    _, out, _ = explain(fixture("pickle", "sus_trailing_garbage.pkl"))
    assert "result = {}" in out and "are not a pickle" in out
    _, out, _ = explain(fixture("pickle", "mal_second_stream.pkl"))
    assert "# --- pickle stream 1, from offset 4 ---" in out
    assert out.count("result = ") == 2


@pytest.mark.parametrize("name", ALL)
def test_agrees_with_scan(name):
    """Every call the scan reports is a step of the explanation at the same
    offset, at least as severe (a step that reaches a global through
    getattr takes that global's severity too)."""
    order = ["INFO", "UNKNOWN", "SUSPICIOUS", "DANGEROUS"]
    path = fixture("pickle", name)
    _, doc = scan_json(path)
    _, out, _ = explain(path)
    for f in doc["files"][0]["findings"]:
        if f["rule"] not in ("pickle-call", "pickle-method") or \
                f["layer"] is not None:
            continue
        m = re.findall(r"# @%d \S+ ([A-Z]+)" % f["offset"], out)
        assert m, (f, out)
        assert max(order.index(x) for x in m) >= \
            order.index(f["severity"].upper()), (f, out)


def test_truncations_and_random_bytes_never_fail():
    """A sample through the CLI; every prefix of every fixture and many
    random inputs go through the library in tests/unit (in-process)."""
    for name in ALL[::4]:
        data = open(fixture("pickle", name), "rb").read()
        for cut in range(1, len(data), max(1, len(data) // 6)):
            rc, out, err = explain("-", input=data[:cut])
            assert rc == 0 and err == "", (name, cut, err)
            assert "result =" in out or "breaks here" in out or \
                "not a pickle" in out, (name, cut, out)
    rnd = random.Random(1)
    for _ in range(20):
        data = bytes(rnd.getrandbits(8)
                     for _ in range(rnd.randrange(1, 200)))
        rc, out, err = explain("-", input=data)
        assert err == "" and (rc == 0 or (rc == 2 and "limit" in out))


def test_limits_and_errors(tmp_path):
    p = run("explain", "/nonexistent.pkl")
    assert p.returncode == 2 and b"/nonexistent.pkl" in p.stderr
    # a member that the file does not have
    p = run("explain", fixture("pickle", "ok_plain_p2.pkl") + "!data.pkl")
    assert p.returncode == 2 and b"cannot read member 'data.pkl': no such " \
        b"member" in p.stderr
    # a file whose own name has a '!' is still that file
    odd = tmp_path / "a!b.pkl"
    odd.write_bytes(open(fixture("pickle", "mal_inst.pkl"), "rb").read())
    rc, out, _ = explain(str(odd))
    assert rc == 0 and "DANGEROUS" in out
    p = run("explain", "--max-bytes", "10", fixture("pickle",
                                                    "mal_reverse_shell.pkl"))
    assert p.returncode == 2 and b"max-member-bytes" in p.stderr
    assert run("explain").returncode == 2
    assert run("explain", "--help").returncode == 0
    rc, out, _ = explain("-", input=b"")
    assert rc == 0 and "the input is empty" in out


def test_disasm_takes_members_too():
    p = run("disasm", fixture("pickle", "ok_plain_p2.pkl") + "!x")
    assert p.returncode == 2 and b"cannot read member 'x'" in p.stderr
    p = run("disasm", fixture("pickle", "ok_plain_p2.pkl"))
    assert p.returncode == 0 and b"STOP" in p.stdout
    p = run("disasm", fixture("archive", "mal_model_bin.7z") + "!model.bin")
    assert p.returncode == 0 and re.search(rb"GLOBAL +'os system'",
                                           p.stdout), p.stdout


# FILE!MEMBER: members named as in the layers of scan's findings, in
# containers of every kind; goldens for malicious, benign and broken ones.
MEMBERS = [
    ("mal_7z_member", "archive/mal_model_bin.7z", "model.bin"),
    ("mal_tar_gz_member", "archive/mal_model_bin.tar.gz", "data!model.bin"),
    ("mal_nested_member", "archive/mal_nested.7z.xz",
     "data!inner.tar.gz!data!payload.pkl"),
    ("mal_gz_stream", "archive/mal_os_system.pkl.gz", "data"),
    ("mal_torch_tar_pickle", "archive/mal_torch_legacy_pickle.tar", "pickle"),
    ("mal_torch_zip_data_pkl", "zip/torch_malicious.pt", "archive/data.pkl"),
    ("ok_appended_zip", "zip/zip_prefix_pickle.pt",
     "<appended-zip>!archive/data.pkl"),
    ("mal_embedded_arg", "pickle/mal_nested_loads.pkl", "arg@47"),
    ("mal_h5_attribute", "h5/mal_attr_pickle.h5",
     "HDF5 attribute /model_weights/optimizer_state"),
    ("ok_7z_member", "archive/ok_plain.7z", "dir/b.pkl"),
    ("ok_torch_tar_storages", "archive/ok_torch_legacy.tar", "pickle"),
    # read before the archive breaks
    ("mal_truncated_tar_gz_member", "archive/mal_truncated.tar.gz",
     "data!a.pkl"),
    ("broken_torch_zip", "zip/torch_broken_payload.pt", "archive/data.pkl"),
]


@pytest.mark.parametrize("name,path,member", MEMBERS,
                         ids=[m[0] for m in MEMBERS])
def test_golden_members(name, path, member):
    rc, out, err = explain(os.path.join("tests", "fixtures", path) + "!" +
                           member)
    assert rc == 0 and err == "", err
    assert out.startswith("# modelgate explain tests/fixtures/%s!%s\n" %
                          (path, member))
    golden = os.path.join(GOLDEN, "member_" + name + ".txt")
    if UPDATE_GOLDEN:
        open(golden, "w").write(out)
    assert out == open(golden).read()


def body(out):
    return out.split("\n", 1)[1]


def test_member_bytes_are_the_members(tmp_path):
    """What explain and disasm read from a member is the member's bytes,
    as Python's own readers extract them."""
    pairs = []
    z = zipfile.ZipFile(fixture("zip", "torch_malicious.pt"))
    pairs.append(("zip/torch_malicious.pt!archive/data.pkl",
                  z.read("archive/data.pkl")))
    tgz = tarfile.open(fixture("archive", "ok_plain.tar.gz"))
    for m in tgz.getmembers():
        if m.name.endswith(".pkl"):
            pairs.append(("archive/ok_plain.tar.gz!data!" + m.name,
                          tgz.extractfile(m).read()))
    for ext, mod in ((".gz", gzip), (".xz", lzma), (".bz2", bz2)):
        name = "archive/mal_os_system.pkl" + ext
        pairs.append((name + "!data", mod.open(fixture(*name.split("/")))
                      .read()))
    assert len(pairs) >= 5
    for target, data in pairs:
        ref = tmp_path / "ref.pkl"
        ref.write_bytes(data)
        for cmd in ("explain", "disasm"):
            a = run(cmd, fixture(*target.split("/")))
            b = run(cmd, str(ref))
            assert a.returncode == b.returncode == 0, (target, a.stderr)
            assert body(a.stdout.decode()) == body(b.stdout.decode()), target
            assert b"STOP" in a.stdout, (target, a.stdout)


def test_every_layer_of_a_finding_can_be_named():
    """Each layer that scan names in a finding is a FILE!MEMBER that
    disasm can read, whatever the container."""
    # all fixtures but the HDF5 file libhdf5 loops on (30 s, no layer)
    paths = [os.path.join(FIXTURES, d, f) for d in sorted(os.listdir(FIXTURES))
             if d not in ("gen", "sarif")
             for f in sorted(os.listdir(os.path.join(FIXTURES, d)))
             if f != "err_libhdf5_loop.h5"]
    _, doc = scan_json(*paths, extra=("-v",))
    pairs = sorted({(f["path"], x["layer"]) for f in doc["files"]
                    for x in f["findings"] if x["layer"] is not None})
    kinds = {p.split(os.sep)[-2] for p, _ in pairs}
    assert {"archive", "zip", "pickle", "h5", "keras"} <= kinds, kinds
    for path, layer in pairs:
        p = run("disasm", path + "!" + layer)
        assert p.returncode == 0, (path, layer, p.stderr)


def test_member_errors():
    mal7z = fixture("archive", "mal_model_bin.7z")
    p = run("explain", mal7z + "!nope.pkl")
    assert p.returncode == 2
    assert b"cannot read member 'nope.pkl': no such member" in p.stderr
    # a layer under a member that is not a container
    p = run("explain", mal7z + "!model.bin!x")
    assert p.returncode == 2 and b"no such member" in p.stderr
    # the member exceeds --max-bytes: said so, not "no such member"
    size = len(lzma.open(fixture("archive", "mal_os_system.pkl.xz")).read())
    xz = fixture("archive", "mal_os_system.pkl.xz") + "!data"
    p = run("explain", "--max-bytes", str(size - 1), xz)
    assert p.returncode == 2 and b"max-member-bytes" in p.stderr, p.stderr
    p = run("explain", "--max-bytes", str(size), xz)
    assert p.returncode == 0 and b"DANGEROUS" in p.stdout
    p = run("explain", fixture("archive", "mal_model_bin.7z") + "!model.bin",
            "--max-bytes", "20")
    assert p.returncode == 2 and b"max-member-bytes" in p.stderr
