"""modelgate convert: PyTorch checkpoints to safetensors without unpickling.

Round trips with Debian's torch: every tensor read back from the
safetensors file (parsed here with the standard library and
torch.frombuffer) must equal what torch.load gives for the original, and
the file must be laid out as the safetensors reference writer lays it out.
Malicious, unknown-class and broken checkpoints must be refused and leave
no file behind.
"""
import collections
import glob
import io
import json
import os
import resource
import signal
import struct
import sys
import zipfile

import pytest
import torch

from conftest import FIXTURES, SRC, run

sys.path.insert(0, os.path.join(SRC, "tests", "tools"))
from torch_pickles import (P, checkpoint, hooks, ints, pid,  # noqa: E402
                           stored_zip, v2, v3)

# safetensors dtypes in the order of its Dtype enum, with element sizes
# (F4: half a byte, counted in bytes here and halved by nbytes())
ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3",
         "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16",
         "I32", "U32", "F32", "C64", "F64", "I64", "U64"]
SIZE = {"BOOL": 1, "F4": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
        "F8_E8M0": 1, "F8_E4M3FNUZ": 1, "F8_E5M2FNUZ": 1, "I16": 2, "U16": 2,
        "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "C64": 8,
        "F64": 8, "I64": 8, "U64": 8}
TORCH = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
         "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
         "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
         "BOOL": torch.bool, "C64": torch.complex64}
NAME_OF = {v: k for k, v in TORCH.items()}


def nbytes(dtype, shape):
    """Bytes of a tensor of safetensors dtype and shape (F4: 4 bits)."""
    numel = 1
    for d in shape:
        numel *= d
    if dtype == "F4":
        assert shape and numel % 2 == 0, "F4 elements do not fill bytes"
        return numel // 2
    return numel * SIZE[dtype]


# ---------------------------------------------------------------------
# reading safetensors (the format, not a library)

def read_safetensors(path):
    """(header dict, {name: (dtype, shape, raw bytes)}) after checking the
    layout rules of the format and of the reference writer."""
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    assert n % 8 == 0, "header not padded to 8 bytes"
    text = blob[8:8 + n]
    assert text[:1] == b"{"
    stripped = text.rstrip(b" ")
    assert stripped.endswith(b"}") and len(text) - len(stripped) < 8
    head = json.loads(stripped.decode("utf-8"))
    meta = head.pop("__metadata__", None)
    assert meta is not None and meta.get("format") == "pt"
    assert all(isinstance(v, str) for v in meta.values())
    data = blob[8 + n:]
    tensors = {}
    pos = 0
    for name, info in head.items():  # json keeps the file's order
        b, e = info["data_offsets"]
        assert b == pos, f"{name}: gap or overlap"
        assert e - b == nbytes(info["dtype"], info["shape"])
        assert b % SIZE[info["dtype"]] == 0, "misaligned"
        tensors[name] = (info["dtype"], tuple(info["shape"]), data[b:e])
        pos = e
    assert pos == len(data), "bytes after the last tensor"
    # the reference writer's order: decreasing dtype, then name
    keys = [(-ORDER.index(v["dtype"]), k.encode()) for k, v in head.items()]
    assert keys == sorted(keys)
    # and its compact JSON, metadata first
    expect = json.dumps({"__metadata__": meta, **head},
                        separators=(",", ":"), ensure_ascii=False)
    assert stripped.decode("utf-8") == expect
    return meta, tensors


def as_torch(dtype, shape, raw):
    dt = TORCH[dtype]
    if not raw:
        return torch.empty(shape, dtype=dt)
    return torch.frombuffer(bytearray(raw), dtype=dt).reshape(shape)


def tbytes(t):
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy(
    ).tobytes()


def flatten(obj):
    """Dotted names, as modelgate (and a state dict) name them."""
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    out = {}

    def walk(v, name):
        if isinstance(v, torch.Tensor):
            out[name] = v
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{name}.{k}" if name else str(k))
        elif isinstance(v, (list, tuple)) and not isinstance(v, torch.Size):
            for i, x in enumerate(v):
                walk(x, f"{name}.{i}" if name else str(i))
    walk(obj, "")
    return out


def identical(a, b):
    return (a.dtype == b.dtype and a.shape == b.shape and
            a.stride() == b.stride() and
            a.storage_offset() == b.storage_offset() and
            a.storage().data_ptr() == b.storage().data_ptr())


def check_round_trip(src, dst):
    """Every tensor torch.load gives is in dst, equal, and identical
    tensors are stored once."""
    meta, got = read_safetensors(dst)
    ref = flatten(torch.load(src))
    aliases = {k: v for k, v in meta.items() if k != "format"}
    assert set(got) | set(aliases) == set(ref)
    assert not set(got) & set(aliases)
    for name, t in ref.items():
        kept = aliases.get(name, name)
        dtype, shape, raw = got[kept]
        assert dtype == NAME_OF[t.dtype], name
        assert shape == tuple(t.shape), name
        assert raw == tbytes(t), name
        assert as_torch(dtype, shape, raw).shape == t.shape
        if name in aliases:
            assert identical(t, ref[kept]), f"{name} is not {kept}"
    # what is stored once really is identical; nothing identical is twice
    names = sorted(got)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not identical(ref[a], ref[b]), f"{a} and {b} stored twice"
    return meta, got


def convert(*args):
    p = run("convert", *args)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def save(obj, path, legacy=False):
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return str(path)


def listing(d):
    return sorted(os.listdir(d))


# ---------------------------------------------------------------------
# round trips

def every_dtype():
    torch.manual_seed(1)
    d = collections.OrderedDict()
    for dt in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        t = torch.randn(5, 3).to(dt)
        t[0, 0] = float("nan")
        t[1, 1] = float("inf")
        t[2, 2] = -0.0
        d[f"f.{dt}".replace("torch.", "")] = t
    for dt in (torch.int64, torch.int32, torch.int16, torch.int8,
               torch.uint8):
        info = torch.iinfo(dt)
        d[str(dt).replace("torch.", "")] = torch.tensor(
            [info.min, info.max, 0, 1, -1 if info.min < 0 else 7], dtype=dt)
    d["bool"] = torch.tensor([[True, False], [False, True]])
    d["complex64"] = torch.randn(4, dtype=torch.complex64)
    return d


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_every_dtype(tmp_path, legacy):
    src = save(every_dtype(), tmp_path / "m.pt", legacy)
    dst = str(tmp_path / "m.safetensors")
    rc, out, err = convert(src, dst)
    assert rc == 0, err
    assert out.strip() == dst
    meta, got = check_round_trip(src, dst)
    assert {v[0] for v in got.values()} == set(TORCH)


def views_and_sharing():
    torch.manual_seed(2)
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    emb = torch.nn.Embedding(7, 4)
    head = torch.nn.Linear(4, 7, bias=False)
    head.weight = emb.weight  # tied, as language models tie them
    m = torch.nn.Sequential(emb, head)
    d = {
        "offset": base[2],                      # offset view
        "transposed": base.t(),                 # not contiguous
        "stepped": base[:, ::3],                # strided
        "expanded": torch.ones(3).expand(4, 3),  # stride 0
        "permuted": torch.randn(2, 3, 4).permute(2, 0, 1),
        "scalar": torch.tensor(3.5),            # 0-dim
        "empty": torch.zeros(0, 3),             # no bytes
        "full": base,                           # the whole storage
        "same": base,                           # identical: stored once
        "row1": base[1],                        # shares base, differs
        "row1_again": base[1],                  # identical to row1
        "model": m.state_dict(),                # tied weights, _metadata
        "narrow": base.reshape(-1)[5:45].reshape(8, 5),
    }
    return d


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_views_and_sharing(tmp_path, legacy):
    src = save(views_and_sharing(), tmp_path / "v.pt", legacy)
    dst = str(tmp_path / "v.safetensors")
    rc, out, err = convert(src, dst)
    assert rc == 0, err
    meta, got = check_round_trip(src, dst)
    # identical tensors: one stored, the others named in __metadata__
    assert meta["same"] == "full" and "same" not in got
    assert meta["row1_again"] == "row1"
    assert meta["model.1.weight"] == "model.0.weight"
    # sharing but not identical: both stored
    assert "row1" in got and "full" in got and "offset" in got
    assert "materialised" in err or "copied out" in err


def test_parameters_nesting_and_plain_values(tmp_path):
    p = torch.nn.Parameter(torch.randn(3, 2))
    obj = {
        "p": p,
        "nest": {"list": [torch.ones(2), (torch.zeros(1), {"x": p.t()})],
                 7: torch.arange(3)},
        "epoch": 3, "lr": 0.1, "name": "run", "none": None,
        "shape": torch.Size([2, 3]), "flag": True, "raw": b"\x00\x01",
    }
    src = save(obj, tmp_path / "n.pt")
    dst = str(tmp_path / "n.safetensors")
    rc, _, err = convert(src, dst)
    assert rc == 0, err
    meta, got = check_round_trip(src, dst)
    assert set(got) == {"p", "nest.list.0", "nest.list.1.0",
                        "nest.list.1.1.x", "nest.7"}
    for k in ("epoch", "lr", "name", "none", "shape", "flag", "raw"):
        assert f"'{k}'" in err, k  # each left out with a note


def test_state_dict_entry_is_what_is_converted(tmp_path):
    sd = {"layer.weight": torch.randn(2, 2)}
    src = save({"epoch": 1, "state_dict": sd,
                "optimizer": {"t": torch.ones(1)}}, tmp_path / "l.ckpt")
    dst = str(tmp_path / "l.safetensors")
    rc, _, err = convert(src, dst)
    assert rc == 0, err
    _, got = check_round_trip(src, dst)
    assert set(got) == {"layer.weight"}
    assert "'optimizer' left out" in err


def test_output_folder_gets_the_hugging_face_name(tmp_path):
    src = save({"w": torch.ones(2)}, tmp_path / "pytorch_model.bin")
    out = tmp_path / "out"
    out.mkdir()
    rc, stdout, err = convert(src, str(out))
    assert rc == 0, err
    assert listing(out) == ["model.safetensors"]
    check_round_trip(src, str(out / "model.safetensors"))


def test_names_that_need_escaping(tmp_path):
    names = ["quote\"d", "back\\slash", "tab\there", "\u00fcber.\u4e2d",
             "ctrl\x01", "a/b"]
    src = save({n: torch.full((2,), float(i)) for i, n in enumerate(names)},
               tmp_path / "e.pt")
    dst = str(tmp_path / "e.safetensors")
    rc, _, err = convert(src, dst)
    assert rc == 0, err
    _, got = check_round_trip(src, dst)
    assert set(got) == set(names)


def test_existing_output_is_replaced(tmp_path):
    src = save({"w": torch.ones(4)}, tmp_path / "m.pt")
    dst = tmp_path / "m.safetensors"
    dst.write_bytes(b"old")
    rc, _, err = convert(src, str(dst))
    assert rc == 0, err
    check_round_trip(src, str(dst))
    assert listing(tmp_path) == ["m.pt", "m.safetensors"]


# ---------------------------------------------------------------------
# checkpoints written by hand: what torch 2.x writes, byte order

def zip_checkpoint(path, data_pkl, storages, extra=()):
    with open(path, "wb") as f:
        f.write(checkpoint(data_pkl, storages, extra))
    return str(path)


def test_rebuild_v3_float8_and_unsigned(tmp_path):
    """float8 and uint16/32/64 tensors as torch >= 2.1 saves them (torch
    1.13 cannot load them: the expected values are the storage bytes)."""
    raw = bytes(range(256)) * 4
    p = P().proto(2).empty_dict().mark()
    specs = [  # name, dtype, st dtype, offset, size, stride
        ("e4m3", "float8_e4m3fn", "F8_E4M3", 3, [4, 5], [5, 1]),
        ("e5m2", "float8_e5m2", "F8_E5M2", 0, [5, 4], [1, 5]),
        ("e4m3fnuz", "float8_e4m3fnuz", "F8_E4M3FNUZ", 100, [7], [2]),
        ("u16", "uint16", "U16", 8, [3, 4], [1, 3]),
        ("u32", "uint32", "U32", 2, [6], [1]),
        ("u64", "uint64", "U64", 1, [2, 2], [2, 1]),
        ("e8m0", "float8_e8m0fnu", "F8_E8M0", 17, [3, 3], [3, 1]),
        ("e5m2fnuz", "float8_e5m2fnuz", "F8_E5M2FNUZ", 5, [4], [3]),
        # float4_e2m1fn_x2 (torch >= 2.8): torch's sizes count bytes,
        # safetensors' F4 shape counts 4-bit elements (last one doubled)
        ("f4", "float4_e2m1fn_x2", "F4", 9, [3, 4], [1, 3]),
    ]
    for name, dtype, _, off, size, stride in specs:
        p.binunicode(name)
        v3(p, "0", len(raw), off, size, stride, dtype)
    src = zip_checkpoint(tmp_path / "f8.pt", p.setitems().stop().bytes(),
                         {"0": raw})
    dst = str(tmp_path / "f8.safetensors")
    rc, _, err = convert(src, dst)
    assert rc == 0, err
    _, got = read_safetensors(dst)
    for name, _, st, off, size, stride in specs:
        es = SIZE[st]
        want = bytearray()
        idx = [0] * len(size)
        numel = 1
        for s in size:
            numel *= s
        for _ in range(numel):
            e = off + sum(i * s for i, s in zip(idx, stride))
            want += raw[e * es:(e + 1) * es]
            for d in reversed(range(len(size))):
                idx[d] += 1
                if idx[d] < size[d]:
                    break
                idx[d] = 0
        shape = tuple(size)
        if st == "F4":
            shape = shape[:-1] + (2 * shape[-1],)
        assert got[name] == (st, shape, bytes(want)), name


def test_float4_without_dimensions_is_refused(tmp_path):
    """A 0-dim float4_e2m1fn_x2 tensor is one byte holding two elements:
    safetensors' F4 has no shape for it."""
    p = P().proto(2).empty_dict().mark().binunicode("s")
    v3(p, "0", 4, 0, [], [], "float4_e2m1fn_x2")
    src = zip_checkpoint(tmp_path / "f4.pt", p.setitems().stop().bytes(),
                         {"0": b"\x12\x34\x56\x78"})
    rc, _, err = convert(src, str(tmp_path / "f4.safetensors"))
    assert rc == 1 and "float4_e2m1fn_x2" in err and "no dimensions" in err
    assert listing(tmp_path) == ["f4.pt"]


def test_parameter_with_state_and_from_type(tmp_path):
    """_rebuild_parameter_with_state and _rebuild_from_type_v2, as torch
    2.x writes parameters and tensors that carry Python attributes."""
    raw = struct.pack("<6f", *range(6))
    p = P().proto(2).empty_dict().mark()
    p.binunicode("param")
    p.global_("torch._utils", "_rebuild_parameter_with_state").mark()
    p.global_("torch._utils", "_rebuild_tensor_v2").mark()
    pid(p, "FloatStorage", "0", 6)
    p.binint(0)
    ints(p, [2, 3])
    ints(p, [3, 1])
    p.newfalse()
    hooks(p)
    p.tuple_().reduce()
    p.newtrue()
    hooks(p)
    p.empty_dict().binunicode("note").binint(1).setitem()
    p.tuple_().reduce()
    p.binunicode("typed")
    p.global_("torch._tensor", "_rebuild_from_type_v2").mark()
    p.global_("torch._utils", "_rebuild_tensor_v2")
    p.global_("torch", "Tensor")
    p.mark()
    pid(p, "FloatStorage", "0", 6)
    p.binint(1)
    ints(p, [2])
    ints(p, [2])
    p.newfalse()
    hooks(p)
    p.tuple_()
    p.empty_dict()
    p.tuple_().reduce()
    src = zip_checkpoint(tmp_path / "ps.pt", p.setitems().stop().bytes(),
                         {"0": raw})
    dst = str(tmp_path / "ps.safetensors")
    rc, _, err = convert(src, dst)
    assert rc == 0, err
    _, got = read_safetensors(dst)
    assert got["param"] == ("F32", (2, 3), raw)
    assert got["typed"] == ("F32", (2,), raw[4:8] + raw[12:16])


def swap(raw, unit):
    return b"".join(raw[i:i + unit][::-1] for i in range(0, len(raw), unit))


def test_big_endian_checkpoint_is_converted(tmp_path):
    """A byteorder record "big" (torch >= 2.1 on a big-endian machine): the
    elements are swapped to little-endian, as torch.load swaps them."""
    ref = {"f": torch.randn(3, 4), "d": torch.randn(5, dtype=torch.float64),
           "h": torch.randn(2, 2).half(), "i": torch.arange(7),
           "c": torch.randn(3, dtype=torch.complex64),
           "b": torch.tensor([True, False]), "u": torch.arange(5).byte(),
           "v": torch.randn(4, 6).t()}
    src = save(ref, tmp_path / "le.pt")
    z = zipfile.ZipFile(src)
    pkl = z.read("le/data.pkl")
    # one storage per tensor, keyed in the order torch.save met them
    storages = {}
    for key, t in enumerate(ref.values()):
        u = 4 if t.dtype == torch.complex64 else t.element_size()
        storages[str(key)] = swap(z.read(f"le/data/{key}"), u)
    big = zip_checkpoint(tmp_path / "be.pt", pkl, storages,
                         extra=[("byteorder", b"big")])
    dst = str(tmp_path / "be.safetensors")
    rc, _, err = convert(big, dst)
    assert rc == 0, err
    assert "big-endian" in err
    _, got = read_safetensors(dst)
    for name, t in flatten(torch.load(src)).items():
        assert got[name][2] == tbytes(t), name
    # a byte order that is neither
    odd = zip_checkpoint(tmp_path / "odd.pt", pkl, storages,
                         extra=[("byteorder", b"middle")])
    rc, _, err = convert(odd, str(tmp_path / "odd.safetensors"))
    assert rc == 1 and "byteorder" in err
    assert not os.path.exists(tmp_path / "odd.safetensors")


# ---------------------------------------------------------------------
# sharded checkpoints

def make_shards(folder, n=3):
    torch.manual_seed(3)
    weight_map, total = {}, 0
    for i in range(n):
        shard = f"pytorch_model-{i + 1:05d}-of-{n:05d}.bin"
        sd = collections.OrderedDict(
            (f"layers.{i}.{w}", torch.randn(4, 3)) for w in ("q", "k", "v"))
        if i == 0:
            sd["embed.weight"] = torch.randn(10, 4)
            sd["lm_head.weight"] = sd["embed.weight"]  # tied
        torch.save(sd, folder / shard)
        for k, t in sd.items():
            weight_map[k] = shard
            total += t.numel() * t.element_size()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    return index


def test_sharded(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    index = make_shards(src)
    out = tmp_path / "out"
    rc, stdout, err = convert(str(src / "pytorch_model.bin.index.json"),
                              str(out))
    assert rc == 0, err
    assert listing(out) == [
        "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors", "model.safetensors.index.json"]
    new = json.loads((out / "model.safetensors.index.json").read_text())
    assert set(new["weight_map"]) == set(index["weight_map"])
    total = 0
    for name, shard in new["weight_map"].items():
        old = index["weight_map"][name]
        assert shard == old.replace("pytorch_model", "model").replace(
            ".bin", ".safetensors")
    for shard in sorted(set(index["weight_map"].values())):
        meta, got = check_round_trip(
            str(src / shard),
            str(out / shard.replace("pytorch_model", "model").replace(
                ".bin", ".safetensors")))
        total += sum(len(v[2]) for v in got.values())
    # the tied copy is stored once: total_size is what was written
    assert new["metadata"]["total_size"] == total
    assert total == index["metadata"]["total_size"] - 10 * 4 * 4


def test_sharded_all_or_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    index = make_shards(src)
    # the last shard is malicious: nothing at all is written
    bad = sorted(set(index["weight_map"].values()))[-1]
    (src / bad).write_bytes(
        open(os.path.join(FIXTURES, "zip", "torch_malicious.pt"),
             "rb").read())
    out = tmp_path / "out"
    rc, _, err = convert(str(src / "pytorch_model.bin.index.json"), str(out))
    assert rc == 1, err
    assert bad in err and "dangerous" in err
    assert listing(out) == []


@pytest.mark.parametrize("weight_map,why", [
    ({"w": "../escape.bin"}, "file name"),
    ({"w": "/etc/passwd"}, "file name"),
    ({"w": 3}, "file name"),
    ({}, "weight_map"),
])
def test_sharded_index_is_parsed_strictly(tmp_path, weight_map, why):
    (tmp_path / "pytorch_model.bin.index.json").write_text(
        json.dumps({"weight_map": weight_map}))
    rc, _, err = convert(str(tmp_path / "pytorch_model.bin.index.json"),
                         str(tmp_path / "out"))
    assert rc == 1 and why in err


def test_sharded_index_duplicate_keys_and_missing_names(tmp_path):
    (tmp_path / "pytorch_model.bin.index.json").write_text(
        '{"weight_map": {"a": "x.bin", "a": "y.bin"}}')
    rc, _, err = convert(str(tmp_path / "pytorch_model.bin.index.json"),
                         str(tmp_path / "out"))
    assert rc == 1 and "JSON" in err
    save({"a": torch.ones(1)}, tmp_path / "x.bin")
    (tmp_path / "pytorch_model.bin.index.json").write_text(
        json.dumps({"weight_map": {"a": "x.bin", "b": "x.bin"}}))
    rc, _, err = convert(str(tmp_path / "pytorch_model.bin.index.json"),
                         str(tmp_path / "out"))
    assert rc == 1 and "'b'" in err
    assert listing(tmp_path / "out") == []


# ---------------------------------------------------------------------
# refusals: nothing is written

MALICIOUS = [os.path.join(FIXTURES, "zip", f) for f in (
    "torch_malicious.pt", "torch_broken_payload.pt", "torch_deflated.pt",
    "legacy_malicious.pt", "legacy_hidden_after.pt", "zip_bad_crc.pt",
    "zip_duplicate.pt", "zip_name_mismatch.pt", "zip_prefix_pickle.pt",
    "zip_flag_encrypted.pt")] + sorted(
    glob.glob(os.path.join(FIXTURES, "pickle", "mal_*.pkl")))


@pytest.mark.parametrize("path", MALICIOUS, ids=os.path.basename)
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_malicious_is_refused(tmp_path, path, force):
    dst = tmp_path / "x.safetensors"
    rc, out, err = convert(*(["--force"] if force else []), path, str(dst))
    assert rc == 1, err
    assert "refused" in err
    assert listing(tmp_path) == []


class UserConfig:  # pickled as test_convert.UserConfig: an unknown class
    def __init__(self):
        self.depth = 3


def test_unknown_class_is_refused_even_with_force(tmp_path):
    src = save({"w": torch.ones(2), "cfg": UserConfig()}, tmp_path / "u.pt")
    rc, _, err = convert(src, str(tmp_path / "u.safetensors"))
    assert rc == 1 and "unknown" in err and "--force" in err
    rc, _, err = convert("--force", src, str(tmp_path / "u.safetensors"))
    assert rc == 1 and "UserConfig" in err and "does not accept" in err
    assert listing(tmp_path) == ["u.pt"]


def test_whole_module_is_refused(tmp_path):
    src = save(torch.nn.Linear(2, 2), tmp_path / "whole.pt")
    rc, _, err = convert("--force", src, str(tmp_path / "w.safetensors"))
    assert rc == 1 and "does not accept" in err
    assert listing(tmp_path) == ["whole.pt"]


def test_force_overrides_suspicious_only(tmp_path):
    """Bytes after the ZIP's end record: suspicious for the scan, ignored by
    torch.load. Refused without --force, converted with it."""
    src = save({"w": torch.randn(3)}, tmp_path / "t.pt")
    with open(src, "ab") as f:
        f.write(b"trailing bytes")
    dst = str(tmp_path / "t.safetensors")
    rc, _, err = convert(src, dst)
    assert rc == 1 and "suspicious" in err and "--force" in err
    assert not os.path.exists(dst)
    rc, _, err = convert("--force", src, dst)
    assert rc == 0, err
    _, got = read_safetensors(dst)
    assert got["w"][2] == tbytes(torch.load(src)["w"])


def test_missing_and_short_storages(tmp_path):
    missing = os.path.join(FIXTURES, "zip", "torch_missing_storage.pt")
    rc, _, err = convert("--force", missing, str(tmp_path / "m.safetensors"))
    assert rc == 1 and "missing" in err
    src = save({"w": torch.randn(8)}, tmp_path / "s.pt")
    z = zipfile.ZipFile(src)
    short = zip_checkpoint(tmp_path / "short.pt", z.read("s/data.pkl"),
                           {"0": z.read("s/data/0")[:20]})
    rc, _, err = convert(short, str(tmp_path / "short.safetensors"))
    assert rc == 1 and "short" in err
    legacy = save({"w": torch.randn(8)}, tmp_path / "l.pt", legacy=True)
    data = open(legacy, "rb").read()
    open(tmp_path / "lcut.pt", "wb").write(data[:-5])
    rc, _, err = convert(str(tmp_path / "lcut.pt"),
                         str(tmp_path / "lcut.safetensors"))
    assert rc == 1 and "short" in err
    assert sorted(listing(tmp_path)) == ["l.pt", "lcut.pt", "s.pt",
                                         "short.pt"]


def crafted(tmp_path, name, size, stride, offset=0, numel=4,
            stype="FloatStorage", raw=b"\x00" * 16):
    p = P().proto(2).empty_dict().mark().binunicode("t")
    p.global_("torch._utils", "_rebuild_tensor_v2").mark()
    pid(p, stype, "0", numel)
    p.binint(offset)
    ints(p, size)
    ints(p, stride)
    p.newfalse()
    hooks(p)
    p.tuple_().reduce().setitems().stop()
    return zip_checkpoint(tmp_path / name, p.bytes(), {"0": raw})


@pytest.mark.parametrize("size,stride,offset,why", [
    ([2 ** 31, 2 ** 31, 4], [1, 1, 1], 0, "overflow"),
    ([3], [2 ** 62], 0, "overflow"),
    ([2 ** 31 - 1, 2 ** 31 - 1], [2 ** 31 - 1, 1], 0, "reads bytes"),
    ([2], [-1], 0, "negative"),
    ([2], [2 ** 64], 0, "negative"),
    ([5], [1], 0, "reads bytes"),
    ([2, 2], [1, 3], 0, "reads bytes"),
    ([1], [1], 4, "reads bytes"),
    ([2, 2], [2], 0, "strides"),
    ([1] * 65, [1] * 65, 0, "65 dimensions, more than 64"),
    # stride 0: 4 bytes of storage repeated into 4 MiB
    ([2 ** 20], [0], 0, "(limit max-ratio)"),
])
def test_bad_geometry_is_refused(tmp_path, size, stride, offset, why):
    src = crafted(tmp_path, "g.pt", size, stride, offset)
    rc, _, err = convert(src, str(tmp_path / "g.safetensors"))
    assert rc == 1 and why in err, err
    assert listing(tmp_path) == ["g.pt"]


@pytest.mark.parametrize("numel,why", [(2 ** 31 - 1, "short"),
                                       (2 ** 62, "overflow")])
def test_storage_sizes_are_checked(tmp_path, numel, why):
    src = crafted(tmp_path, "o.pt", [1], [1], numel=numel,
                  stype="DoubleStorage")
    rc, _, err = convert(src, str(tmp_path / "o.safetensors"))
    assert rc == 1 and why in err, err


def test_dtype_without_safetensors_equivalent(tmp_path):
    src = save({"z": torch.randn(2, dtype=torch.complex128)},
               tmp_path / "c.pt")
    rc, _, err = convert(src, str(tmp_path / "c.safetensors"))
    assert rc == 1 and "ComplexDoubleStorage" in err and "dtype" in err


def test_name_collision_is_refused(tmp_path):
    src = save({"a.b": torch.ones(1), "a": {"b": torch.zeros(1)}},
               tmp_path / "n.pt")
    rc, _, err = convert(src, str(tmp_path / "n.safetensors"))
    assert rc == 1 and "'a.b'" in err


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"hello world\n")
    rc, _, err = convert(str(tmp_path / "x.bin"), str(tmp_path / "y"))
    assert rc == 1 and "not a PyTorch checkpoint" in err
    src = save(torch.ones(3), tmp_path / "bare.pt")
    rc, _, err = convert(src, str(tmp_path / "y"))
    assert rc == 1 and "single tensor" in err
    assert listing(tmp_path) == ["bare.pt", "x.bin"]


def test_write_failure_leaves_nothing(tmp_path):
    """A write that fails half way (the file size limit): exit 2 and
    neither the output nor a temporary file remains."""
    src = save({"w": torch.randn(256, 1024)}, tmp_path / "big.pt")
    out = tmp_path / "out"
    out.mkdir()

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000))
    import subprocess
    from conftest import BIN
    p = subprocess.run([BIN, "convert", src, str(out / "m.safetensors")],
                       capture_output=True, preexec_fn=limit)
    assert p.returncode == 2, p.stderr
    assert b"File too large" in p.stderr and b"output" in p.stderr
    assert listing(out) == []


def test_usage_errors(tmp_path):
    rc, _, err = convert(str(tmp_path / "nothere.pt"),
                         str(tmp_path / "o.safetensors"))
    assert rc == 2
    rc, out, _ = convert("--help")
    assert rc == 0 and "usage: modelgate convert" in out
    rc, _, err = convert("only-one-arg")
    assert rc == 2


def test_quiet_silences_notes_not_refusals(tmp_path):
    """-q: no notes and no summary on stderr; the output path is still on
    stdout, and a refusal still says why."""
    src = save({"w": torch.ones(2), "epoch": 3}, tmp_path / "q.pt")
    dst = str(tmp_path / "q.safetensors")
    rc, out, err = convert(src, dst)
    assert rc == 0 and "'epoch'" in err and "1 tensors" in err, err
    os.unlink(dst)
    for flag in ("-q", "--quiet"):
        rc, out, err = convert(flag, src, dst)
        assert rc == 0 and out.strip() == dst and err == "", err
        check_round_trip(src, dst)
        os.unlink(dst)
    bad = os.path.join(FIXTURES, "zip", "torch_malicious.pt")
    rc, out, err = convert("-q", bad, dst)
    assert rc == 1 and out == "" and "refused" in err and "dangerous" in err
    assert not os.path.exists(dst)


def test_man_page_documents_convert():
    """doc/modelgate.1 has convert in its synopsis, commands, options and
    exit status, with every long option of convert --help but --help."""
    page = open(os.path.join(SRC, "doc", "modelgate.1")).read()
    assert ".Cm convert\n" in page
    assert ".It Cm convert Ar in out" in page
    assert ".Ss Options of convert" in page
    assert "For\n.Cm convert :" in page
    _, out, _ = convert("--help")
    longs = [w[2:].rstrip(",") for w in out.split() if w.startswith("--")]
    assert "force" in longs and "quiet" in longs
    longs.remove("help")  # common to every command, not listed per command
    for name in longs:
        assert f"Fl \\-{name}" in page, name


def test_member_names_as_miniz_reads_them(tmp_path):
    """Storages are found without regard to case, as PyTorch's miniz
    finds them; two members that both answer are refused."""
    src = save({"w": torch.arange(4.0)}, tmp_path / "s.pt")
    z = zipfile.ZipFile(src)
    pkl, raw = z.read("s/data.pkl"), z.read("s/data/0")
    mixed = tmp_path / "mixed.pt"
    with open(mixed, "wb") as f:
        f.write(stored_zip([("Arch/data.pkl", pkl), ("ARCH/DATA/0", raw),
                            ("arch/version", b"3\n")]))
    rc, _, err = convert(str(mixed), str(tmp_path / "mixed.safetensors"))
    assert rc == 0, err
    _, got = read_safetensors(str(tmp_path / "mixed.safetensors"))
    assert got["w"][2] == raw
    dup = tmp_path / "dup.pt"
    with open(dup, "wb") as f:
        f.write(stored_zip([("a/data.pkl", pkl), ("a/data/0", raw),
                            ("A/Data/0", raw[::-1])]))
    rc, _, err = convert("--force", str(dup), str(tmp_path / "d.safetensors"))
    assert rc == 1 and "several members" in err, err
    assert not os.path.exists(tmp_path / "d.safetensors")


def test_many_storages(tmp_path):
    """A member per storage: lookups stay fast (20,000 storages)."""
    n = 20000
    p = P().proto(2).empty_dict().mark()
    for i in range(n):
        p.binunicode(f"t{i}")
        v2(p, "FloatStorage", str(i), 1, 0, [1], [1])
    p.setitems().stop()
    src = zip_checkpoint(tmp_path / "many.pt", p.bytes(),
                         {str(i): struct.pack("<f", i) for i in range(n)})
    dst = str(tmp_path / "many.safetensors")
    rc, _, err = convert(src, dst)
    assert rc == 0, err
    _, got = read_safetensors(dst)
    assert len(got) == n and got["t123"][2] == struct.pack("<f", 123)
