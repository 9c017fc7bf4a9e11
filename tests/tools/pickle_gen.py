"""Random pickles from a small grammar, for the differential oracle.

Each pickle is a mostly valid opcode sequence (all protocols, all opcodes,
memo and mark games, globals in every form), sometimes broken at the end.
Deterministic for a given seed. No pickle.dumps: raw opcodes only.
"""
import random
import struct

MODULES = ["os", "posix", "builtins", "__builtin__", "collections",
           "copy_reg", "copyreg", "torch._utils", "numpy", "subprocess",
           "operator", "functools", "pkg.sub", "a.b.c", "commands",
           "UserDict", "exceptions", "whichdb", "\u00e9t\u00e9", "m"]
NAMES = ["system", "getattr", "OrderedDict", "eval", "_reconstructor",
         "_rebuild_tensor_v2", "Popen", "attrgetter", "partial", "x.y",
         "UserDict", "Exception", "xrange", "unicode", "n", "__import__",
         "IterableUserDict", "dtype", "whichdb", "\u00fc"]


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.b = bytearray()
        self.depth = 0     # values above the innermost mark
        self.marks = []    # saved depths
        self.memo = 0

    def emit(self, data):
        self.b += data

    def s(self, text):
        return text.encode("utf-8")

    def push_const(self):
        r = self.r
        k = r.randrange(18)
        if k == 0:
            self.emit(b"N")
        elif k == 1:
            self.emit(b"K" + bytes([r.randrange(256)]))
        elif k == 2:
            self.emit(b"J" + struct.pack("<i", r.randrange(-2**31, 2**31)))
        elif k == 3:
            self.emit(b"I" + str(r.randrange(-1000, 1000)).encode() + b"\n")
        elif k == 4:
            self.emit(b"L" + str(r.randrange(2**70)).encode() + b"L\n")
        elif k == 5:
            self.emit(b"F" + repr(r.random()).encode() + b"\n")
        elif k == 6:
            self.emit(b"G" + struct.pack(">d", r.random()))
        elif k == 7:
            self.emit(b"S'" + self.s(r.choice(NAMES)) + b"'\n")
        elif k == 8:
            self.emit(b"V" + r.choice(MODULES).encode("raw_unicode_escape")
                      + b"\n")
        elif k in (9, 10, 11):
            t = self.s(r.choice(MODULES + NAMES))
            op = r.choice([b"X", b"\x8c", b"\x8d"])
            if op == b"X":
                self.emit(b"X" + struct.pack("<I", len(t)) + t)
            elif op == b"\x8c":
                self.emit(b"\x8c" + bytes([len(t)]) + t)
            else:
                self.emit(b"\x8d" + struct.pack("<Q", len(t)) + t)
        elif k == 12:
            self.emit(b"C\x02ab")
        elif k == 13:
            self.emit(b"\x88" if r.random() < 0.5 else b"\x89")
        elif k == 14:
            self.emit(b"\x8a\x02\x01\x02")
        elif k == 15:
            self.emit(r.choice([b"]", b"}", b")", b"\x8f"]))
        elif k == 16:
            self.emit(b"U\x03abc")
        else:
            self.emit(b"\x96\x01\x00\x00\x00\x00\x00\x00\x00z")
        self.depth += 1

    def push_global(self):
        r = self.r
        m, n = r.choice(MODULES), r.choice(NAMES)
        k = r.randrange(3)
        if k == 0:
            self.emit(b"c" + self.s(m) + b"\n" + self.s(n) + b"\n")
        else:
            for t in (m, n):
                d = self.s(t)
                self.emit(b"\x8c" + bytes([len(d)]) + d)
                if r.random() < 0.3:
                    self.emit(b"\x94")
                    self.memo += 1
            self.emit(b"\x93")
        self.depth += 1

    def memo_game(self):
        r = self.r
        if self.depth == 0:
            return
        k = r.randrange(4)
        if k == 0:
            self.emit(b"q" + bytes([r.randrange(8)]))
        elif k == 1:
            self.emit(b"p" + str(r.randrange(8)).encode() + b"\n")
        elif k == 2:
            self.emit(b"\x94")
        else:
            self.emit(r.choice([b"h", b"g"]) + (
                bytes([r.randrange(8)]) if self.b[-1:] != b"g" else b""))
            if self.b[-1:] == b"g":
                self.emit(str(r.randrange(8)).encode() + b"\n")
            self.depth += 1

    def step(self):
        r = self.r
        k = r.randrange(20)
        if k < 6 or self.depth == 0:
            self.push_const()
        elif k < 9:
            self.push_global()
        elif k == 9:
            self.emit(b"(")
            self.marks.append(self.depth)
            self.depth = 0
        elif k == 10 and self.marks:
            op = r.choice([b"t", b"l", b"d", b"\x91", b"o", b"e", b"u",
                           b"\x90", b"1"])
            if op == b"d" and self.depth % 2:
                op = b"t"
            self.emit(op)
            self.depth = self.marks.pop()
            if op in (b"t", b"l", b"d", b"\x91"):
                self.depth += 1
            elif op == b"o":
                self.depth += 1
        elif k == 11 and self.depth >= 2:
            self.emit(b"\x85R")      # f(x): wrap top in a tuple, REDUCE
            self.depth -= 1
        elif k == 12 and self.depth >= 2:
            self.emit(r.choice([b"\x86", b"s", b"b", b"a", b"\x81"]))
            self.depth -= 1
        elif k == 13 and self.depth >= 1:
            self.emit(r.choice([b"0", b"2", b"\x85", b"\x98"]))
            if self.b[-1:] == b"0":
                self.depth -= 1
            elif self.b[-1:] == b"2":
                self.depth += 1
        elif k == 14:
            self.memo_game()
        elif k == 15 and self.marks:
            m, n = r.choice(MODULES), r.choice(NAMES)
            self.emit(b"i" + self.s(m) + b"\n" + self.s(n) + b"\n")
            self.depth = self.marks.pop() + 1
        elif k == 16 and self.depth >= 3:
            self.emit(b"\x87" if r.random() < 0.5 else b"\x92")
            self.depth -= 2
        elif k == 17:
            self.emit(b"\x80" + bytes([r.randrange(6)]))
        else:
            self.push_const()

    def pickle(self):
        r = self.r
        proto = r.randrange(6)
        if proto >= 2:
            self.emit(b"\x80" + bytes([proto]))
        body_start = len(self.b)
        for _ in range(r.randrange(1, 40)):
            self.step()
        while self.marks and r.random() < 0.8:
            self.emit(b"t")
            self.depth = self.marks.pop() + 1
        self.emit(b".")
        if proto >= 4 and r.random() < 0.5:
            body = bytes(self.b[body_start:])
            self.b = self.b[:body_start] + b"\x95" + struct.pack(
                "<Q", len(body)) + body
        end = r.random()
        if end < 0.15:
            cut = r.randrange(1, len(self.b))
            self.b = self.b[:cut]
        elif end < 0.3:
            self.b = self.b[:-1] + bytes(r.randrange(256)
                                         for _ in range(r.randrange(1, 6)))
        return bytes(self.b)


def generate(seed):
    return Gen(random.Random(seed)).pickle()
