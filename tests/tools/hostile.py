"""Hostile inputs, built on demand (they are large or many): each must end
in bounded time and memory with a limit (verdict error) or a finding,
never a crash. Used by tests/cli/test_hostile.py and bench/hostile.py."""
import io
import json
import os
import struct
import sys
import tempfile
import zipfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fixtures", "gen"))
import make_archives  # noqa: E402

MAL = (b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.")


def opcodes_1e7():
    """10^7 opcodes: NONE, POP pairs, then a STOP."""
    return b"N0" * 5_000_000 + b"N."


def huge_memo_indexes():
    """Memo keys at the top of every range, and a GET of the largest."""
    return (b"\x80\x02N" + b"r\xff\xff\xff\xff" + b"p9223372036854775807\n" +
            b"q\xff" + b"j\xff\xff\xff\xff" + b"g9223372036854775807\n" +
            b"\x86\x86.")


def sparse_memo(n=2_000_000):
    """n memo entries at scattered keys (the hash table, not the array)."""
    out = bytearray(b"\x80\x02N")
    for i in range(n):
        out += b"r" + struct.pack("<I", (i * 2654435761) & 0xFFFFFFFF)
    return bytes(out + b".")


def deep_stack(n=3_000_000):
    """More marks than the stack allows."""
    return b"(" * n + b"N."


def deep_nesting(n=1_000_000):
    """A list nested a million deep: MARK ... LIST."""
    return b"(" * n + b"l" * n + b"."


def dup_growth(n=60):
    """2^60 leaves through DUP and TUPLE2 in 120 opcodes."""
    return b"K\x01" + b"2\x86" * n + b"."


def memo_growth(n=60):
    """The same through the memo: GET twice, TUPLE2, PUT."""
    out = bytearray(b"K\x01q\x00")
    for _ in range(n):
        out += b"h\x00h\x00\x86q\x00"
    return bytes(out + b".")


def nested_zlib(levels=10_000):
    """A payload inside 10,000 zlib streams (stored blocks: fast to make)."""
    data = MAL
    for _ in range(levels):
        data = zlib.compress(data, 0)
    return data


def many_members(n=100_001):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        for i in range(n):
            z.writestr(f"m{i}", b"x")
    return b.getvalue()


def zip_bomb(size=1 << 30):
    """One member of `size` zeros, deflated (about size/1000 bytes)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = bytearray()
    chunk = b"\x00" * (1 << 22)
    crc = 0
    for _ in range(size // len(chunk)):
        comp += c.compress(chunk)
        crc = zlib.crc32(chunk, crc)
    comp += c.flush()
    name = b"zeros"
    lh = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc,
                     len(comp), size & 0xFFFFFFFF, len(name), 0) + name
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0,
                     crc, len(comp), size & 0xFFFFFFFF, len(name), 0, 0, 0,
                     0, 0, 0) + name
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd),
                       len(lh) + len(comp), 0)
    return lh + bytes(comp) + cd + eocd


def overlapping_bomb(n=2000, size=1 << 20):
    """n central entries that all point at one deflated 1 MiB member."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = c.compress(b"\x00" * size) + c.flush()
    crc = zlib.crc32(b"\x00" * size)
    name = b"z"
    lh = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc,
                     len(comp), size, len(name), 0) + name
    cd = bytearray()
    for i in range(n):
        nm = b"z%d" % i
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8,
                          0, 0, crc, len(comp), size, len(nm), 0, 0, 0, 0,
                          0, 0) + nm
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cd),
                       len(lh) + len(comp), 0)
    return lh + comp + bytes(cd) + eocd


def resync_junk(n=48 << 20):
    """48 MiB of 'c' and an empty line: a GLOBAL with an empty name, which
    breaks the stream at once. Each 'c' after it could start the next
    protocol 0 GLOBAL: the search must stay linear and find the payload."""
    return b"c" * n + b"\n\ncos\nsystem\n(S'true'\ntR."


def resync_long_lines(n=48 << 20):
    """Identifier lines of 300 bytes (longer than a GLOBAL line is looked
    for) full of 'c', then a payload."""
    line = b"c" * 300 + b"\n"
    return line * (n // len(line)) + b"cos\nsystem\n(S'true'\ntR."


def safetensors_header_2_63():
    """A header length of 2^63 bytes, then a few bytes of JSON."""
    return struct.pack("<Q", 1 << 63) + b'{"a":{}}'


def safetensors_tensor_2_63():
    """A valid header whose tensor claims 2^62 x 2 F32 elements and data
    offsets up to 2^63 - 1."""
    h = json.dumps({"t": {"dtype": "F32", "shape": [1 << 62, 2],
                          "data_offsets": [0, (1 << 63) - 1]}}).encode()
    return struct.pack("<Q", len(h)) + h + b"\0" * 64


def _gguf_str(b):
    return struct.pack("<Q", len(b)) + b


def gguf_counts_2_63():
    """GGUF v3 claiming 2^63 tensors and 2^63 metadata pairs."""
    return b"GGUF" + struct.pack("<IQQ", 3, 1 << 63, 1 << 63) + b"\0" * 64


def gguf_string_2_63():
    """One metadata pair whose string value claims 2^63 bytes."""
    return (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) +
            _gguf_str(b"general.name") + struct.pack("<I", 8) +
            struct.pack("<Q", 1 << 63) + b"x" * 64)


def gguf_array_2_63():
    """One metadata pair: an array of 2^63 arrays of uint8."""
    return (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) +
            _gguf_str(b"tokenizer.ggml.tokens") + struct.pack("<I", 9) +
            struct.pack("<IQ", 9, 1 << 63) + struct.pack("<IQ", 0, 1 << 63) +
            b"\0" * 64)


def sevenz_bomb():
    """A solid 7z folder: 5 members of 2 GiB of zeros, then a payload."""
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "bomb.7z")
        make_archives.sevenz_solid_bomb(p, 5, 2048)
        with open(p, "rb") as f:
            return f.read()


CASES = {
    # name: (builder, extra CLI arguments)
    "pickle-1e7-opcodes": (opcodes_1e7, ()),
    "pickle-huge-memo-indexes": (huge_memo_indexes, ()),
    "pickle-sparse-memo": (sparse_memo, ()),
    "pickle-deep-stack": (deep_stack, ()),
    "pickle-deep-nesting": (deep_nesting, ()),
    "pickle-dup-growth": (dup_growth, ()),
    "pickle-memo-growth": (memo_growth, ()),
    "pickle-resync-c-junk": (resync_junk, ()),
    "pickle-resync-long-lines": (resync_long_lines, ()),
    "zlib-10000-levels": (nested_zlib, ()),
    "zip-100001-members": (many_members, ()),
    "zip-bomb-1GiB": (zip_bomb, ()),
    "zip-overlapping-bomb": (overlapping_bomb, ()),
    "7z-solid-bomb-10GiB": (sevenz_bomb, ()),
    "safetensors-header-2^63": (safetensors_header_2_63, ()),
    "safetensors-tensor-2^63": (safetensors_tensor_2_63, ()),
    "gguf-counts-2^63": (gguf_counts_2_63, ()),
    "gguf-string-2^63": (gguf_string_2_63, ()),
    "gguf-array-2^63": (gguf_array_2_63, ()),
}


def write_all(folder, names=None):
    paths = {}
    for name, (build, args) in CASES.items():
        if names and name not in names:
            continue
        p = os.path.join(folder, name)
        with open(p, "wb") as f:
            f.write(build())
        paths[name] = (p, args)
    return paths
