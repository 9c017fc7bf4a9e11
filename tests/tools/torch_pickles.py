"""PyTorch checkpoint pieces written opcode by opcode (no torch, no
pickle.dumps: byte-exact), for the convert tests and the convert fuzz
seeds: persistent ids, the tensor rebuild calls of torch 1.x and 2.x,
and stored ZIPs laid out as torch.save lays them out."""
import io
import os
import sys
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fixtures", "gen"))
from make_pickles import P  # noqa: E402,F401

# magic number, protocol version 1001, empty sys_info: a legacy file's
# first three pickles
LEGACY_HEAD = (bytes([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                      0x20, 0x6a, 0xa8, 0x50, 0x19, ord(".")]) +
               b"\x80\x02M\xe9\x03." + b"\x80\x02}.")


def integer(p, v):
    return p.binint(v) if -2 ** 31 <= v < 2 ** 31 else p.long1(v)


def pid(p, stype, key, numel, module="torch", legacy=False):
    """('storage', module.stype, key, 'cpu', numel[, None]), BINPERSID."""
    p.mark().binunicode("storage").global_(module, stype)
    p.binunicode(key).binunicode("cpu")
    integer(p, numel)
    if legacy:
        p.none()
    return p.tuple_().binpersid()


def ints(p, values):
    p.mark()
    for v in values:
        integer(p, v)
    return p.tuple_()


def hooks(p):
    """OrderedDict(): the backward hooks torch.save writes."""
    return p.global_("collections", "OrderedDict").empty_tuple().reduce()


def v2(p, stype, key, numel, off, size, stride, legacy=False):
    """_rebuild_tensor_v2(storage, off, size, stride, False, hooks)."""
    p.global_("torch._utils", "_rebuild_tensor_v2").mark()
    pid(p, stype, key, numel, legacy=legacy)
    integer(p, off)
    ints(p, size)
    ints(p, stride)
    p.newfalse()
    hooks(p)
    return p.tuple_().reduce()


def v3(p, key, nbytes, off, size, stride, dtype):
    """torch >= 2.1: _rebuild_tensor_v3(untyped storage, off, size, stride,
    False, hooks, torch.<dtype>), for float8 and unsigned types."""
    p.global_("torch._utils", "_rebuild_tensor_v3").mark()
    pid(p, "UntypedStorage", key, nbytes, module="torch.storage")
    integer(p, off)
    ints(p, size)
    ints(p, stride)
    p.newfalse()
    hooks(p)
    p.global_("torch", dtype)
    return p.tuple_().reduce()


def stored_zip(members):
    """A stored ZIP of (name, bytes) in order, with a fixed timestamp."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    return b.getvalue()


def checkpoint(data_pkl, storages, extra=(), prefix="archive"):
    """A PyTorch ZIP: data.pkl first, extra members, the storages
    data/<key>, then version."""
    return stored_zip([(f"{prefix}/data.pkl", data_pkl)] +
                      [(f"{prefix}/{n}", d) for n, d in extra] +
                      [(f"{prefix}/data/{k}", d) for k, d in storages.items()]
                      + [(f"{prefix}/version", b"3\n")])
