#!/usr/bin/env python3
"""Seeds of the convert fuzz target (fuzz/convert_fuzz.c), byte-exact:
pickles from opcodes (tests/tools/torch_pickles.py), ZIPs with fixed
timestamps. The first byte of a seed is the target's mode:
  0 a whole checkpoint, 1 a legacy file after its first three pickles,
  2 data.pkl of a ZIP whose storages 0..3 hold 16, 64, 256, 4096 bytes,
  3 the bytes after a legacy object pickle holding one 8-float tensor.

    /usr/bin/python3 fuzz/gen_convert_seeds.py   (writes fuzz/corpus/convert)
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "tools"))
from torch_pickles import LEGACY_HEAD, P, hooks, stored_zip, v2, v3  # noqa

OUT = os.path.join(HERE, "corpus", "convert")


def zip_data_pkl(u16=True):
    """Storages: 0 Float x4, 1 Half x32, 2 untyped 256, 3 Double x512."""
    p = P().proto(2).global_("collections", "OrderedDict").empty_tuple()
    p.reduce().mark()
    p.binunicode("a.weight")
    v2(p, "FloatStorage", "0", 4, 0, [2, 2], [2, 1])
    p.binunicode("a.t")
    v2(p, "FloatStorage", "0", 4, 0, [2, 2], [1, 2])
    p.binunicode("h")
    v2(p, "HalfStorage", "1", 32, 3, [4, 5], [6, 1])
    p.binunicode("f8")
    v3(p, "2", 256, 7, [3, 3], [1, 3], "float8_e4m3fn")
    if u16:  # big-endian files refuse it (untyped storage, 2 bytes)
        p.binunicode("u16")
        v3(p, "2", 256, 2, [5], [1], "uint16")
    p.binunicode("p")
    p.global_("torch._utils", "_rebuild_parameter")
    p.mark()
    v2(p, "DoubleStorage", "3", 512, 10, [8, 8], [8, 1])
    p.newtrue()
    hooks(p)
    p.tuple_().reduce()
    p.binunicode("nest").empty_list().mark()
    v2(p, "DoubleStorage", "3", 512, 0, [512], [1])
    p.binunicode("note")
    p.appends()
    p.setitems()
    p.empty_dict().binunicode("_metadata").empty_dict().setitem().build()
    return p.stop().bytes()


def legacy_tail():
    """Object, keys, storages of a legacy file."""
    p = P().proto(2).empty_dict().mark()
    p.binunicode("w")
    v2(p, "FloatStorage", "k1", 6, 0, [2, 3], [3, 1], legacy=True)
    p.binunicode("t")
    v2(p, "FloatStorage", "k1", 6, 1, [2, 2], [1, 3], legacy=True)
    p.binunicode("b")
    v2(p, "BoolStorage", "k2", 3, 0, [3], [1], legacy=True)
    p.setitems().stop()
    keys = P().proto(2).empty_list().mark().binunicode("k1")
    keys.binunicode("k2").appends().stop()
    raw = (struct.pack("<q", 6) + struct.pack("<6f", *range(6)) +
           struct.pack("<q", 3) + b"\x01\x00\x01")
    return p.bytes() + keys.bytes() + raw


def seeds():
    s = {}
    storages = [("archive/data/0", bytes(range(16))),
                ("archive/data/1", bytes(range(64))),
                ("archive/data/2", bytes(range(256))),
                ("archive/data/3", bytes(4096))]
    pkl = zip_data_pkl()
    be = zip_data_pkl(u16=False)
    s["m0-zip"] = b"\x00" + stored_zip(
        [("archive/data.pkl", pkl)] + storages +
        [("archive/version", b"3\n")])
    s["m0-zip-big-endian"] = b"\x00" + stored_zip(
        [("archive/data.pkl", be), ("archive/byteorder", b"big")] +
        storages)
    s["m0-legacy"] = b"\x00" + LEGACY_HEAD + legacy_tail()
    s["m1-legacy"] = b"\x01" + legacy_tail()
    s["m2-data-pkl"] = b"\x02" + pkl
    s["m2-data-pkl-big"] = b"\x02" + be + b"\x01"  # odd: byteorder big
    keys = P().proto(2).empty_list().binunicode("0").append().stop()
    s["m3-storages"] = (b"\x03" + keys.bytes() + struct.pack("<q", 8) +
                        struct.pack("<8f", *range(8)))
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
