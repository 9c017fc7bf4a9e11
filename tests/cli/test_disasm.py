"""modelgate disasm against CPython: the same opcodes at the same offsets
as pickletools.genops, and a stream breaks exactly where CPython's own
unpickler raises."""
import os
import pickletools
import re
import subprocess
import sys

import pytest

from conftest import FIXTURES, run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import oracle  # noqa: E402

PICKLES = os.path.join(FIXTURES, "pickle")
LINE = re.compile(rb"^ *(\d+): (\S+) +(?:(\S+))?")


def disasm(path):
    p = run("disasm", path)
    assert p.returncode == 0, p.stderr
    ops, brk = [], None
    for line in p.stdout.splitlines():
        if b"breaks here" in line:
            brk = int(line.split(b":")[0])
            continue
        if line.strip().startswith(b"---"):
            continue
        m = re.match(rb"^ *(\d+): \S+ +(\S+)", line)
        assert m, line
        ops.append((int(m.group(1)), m.group(2).decode()))
    return ops, brk


def genops(data):
    ops = []
    try:
        for op, arg, pos in pickletools.genops(data):
            ops.append((pos, op.name))
    except Exception:  # noqa: BLE001 - genops raises on broken streams
        pass
    return ops


@pytest.mark.parametrize("name", sorted(os.listdir(PICKLES)))
def test_same_opcodes_as_pickletools(name):
    path = os.path.join(PICKLES, name)
    data = open(path, "rb").read()
    ops, brk = disasm(path)
    want = genops(data)
    # genops stops at the first STOP; disasm goes on with later streams
    assert ops[:len(want)] == want


def test_every_opcode_is_listed():
    ops, brk = disasm(os.path.join(PICKLES, "all_opcodes.pkl"))
    names = {n for _, n in ops}
    assert len(names) == 68 and brk is None


# One-value pickles: modelgate breaks exactly when CPython raises.
EDGE = [b"I42\n.", b"I0x10\n.", b"I010\n.", b"I01\n.", b"I1_000\n.",
        b"I5x\n.", b"I\n.", b"L123L\n.", b"L012\n.", b"L1__0\n.",
        b"F2.5\n.", b"F1e400\n.", b"F 1.0\n.", b"F0x1p3\n.", b"Fnan\n.",
        b"S'abc'\n.", b"S'a\\x41'\n.", b"Sabc\n.", b"S'\\x4'\n.",
        b"Vab\\u0041\n.", b"V\\u004\n.", b"V\\U00110000\n.",
        b"X\x03\x00\x00\x00\xed\xa0\x80.", b"X\x01\x00\x00\x00\xff.",
        b"\x8c\x02\xc3(.", b"\x8b\xff\xff\xff\xff.", b"K\x01(\x85.", b"t.",
        b"K\x01(0.", b"0.", b".", b"}K\x01a.", b"(K\x01d.", b"h\x01.",
        b"K\x07p-1\n.", b"q\x00.", b"\x80\x06K\x01.", b"\x82\x00.",
        b"\x80\x04K\x01\x8c\x01x\x93.", b"K\x01)R.", b"K\x01", b"\xfe",
        b"K\x01q\x03K\x02q\x01K\x09\x94h\x02.", b"\x88\x89\x86.",
        b"\x80\x05\x95\x02\x00\x00\x00\x00\x00\x00\x00K\x01.",
        b"N\x85N\x85\x86\x8f\x90.", b"(\x91.", b"]N\x85a."]


@pytest.mark.parametrize("data", EDGE, ids=[repr(e)[2:18] for e in EDGE])
def test_breaks_where_cpython_raises(tmp_path, data):
    path = tmp_path / "x.pkl"
    path.write_bytes(data)
    _, brk = disasm(str(path))
    _, err = oracle.globals_looked_up(data)
    assert (brk is not None) == (err is not None), (brk, err)
