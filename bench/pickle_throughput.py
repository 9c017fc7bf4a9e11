#!/usr/bin/env python3
"""Decode throughput of the pickle engine against a pickletools.genops
loop, on the same files, in the same run.

    /usr/bin/python3 bench/pickle_throughput.py [--size-mb 100] [--runs 3]
        [--modelgate build/modelgate]

Writes the benchmark pickles to a temporary folder (deleted afterwards):
  dense   a dict of float lists: ~9 bytes per opcode (BINFLOAT, APPENDS)
  mixed   records of ints, strings, tuples and dicts (memo-heavy)
  arrays  numpy arrays pickled in-band, protocol 5 (mostly bytes)
Prints a Markdown table for docs/benchmarks.md. Only /usr/bin/python3
with Debian's python3-numpy is needed. Timings are wall clock of the whole
`modelgate scan` process (best of --runs) and of one genops pass.
"""
import argparse
import os
import pickle
import pickletools
import subprocess
import sys
import tempfile
import time


def make_dense(mb):
    n_lists = max(1, mb * 1024 * 1024 // (9 * 1000))
    return {f"layer{i}": [i + j / 7.0 for j in range(1000)]
            for i in range(n_lists)}


def make_mixed(mb):
    n = max(1, mb * 1024 * 1024 // 60)
    names = [f"name{i}" for i in range(5000)]
    return [{"id": i, "name": names[i % 5000], "pair": (i, -i),
             "score": i / 3.0} for i in range(n)]


def make_arrays(mb):
    import numpy
    n = max(1, mb)
    return {f"w{i}": numpy.arange(1024 * 1024 // 8, dtype=numpy.float64) + i
            for i in range(n)}


def genops_time(path):
    data = open(path, "rb").read()
    t = time.perf_counter()
    for _ in pickletools.genops(data):
        pass
    return time.perf_counter() - t


def modelgate_time(binary, path, runs):
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run([binary, "scan", "--no-summary", "-j", "1", path],
                           capture_output=True)
        dt = time.perf_counter() - t
        if p.returncode != 0:
            sys.exit(f"modelgate scan {path} exited {p.returncode}:\n"
                     f"{p.stdout.decode()}{p.stderr.decode()}")
        best = dt if best is None else min(best, dt)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modelgate", default="build/modelgate")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, make, proto in (("dense", make_dense, 4),
                                  ("mixed", make_mixed, 4),
                                  ("arrays", make_arrays, 5)):
            path = os.path.join(d, name + ".pkl")
            with open(path, "wb") as f:
                pickle.dump(make(a.size_mb), f, protocol=proto)
            size = os.path.getsize(path)
            ops = sum(1 for _ in pickletools.genops(open(path, "rb").read()))
            mg = modelgate_time(a.modelgate, path, a.runs)
            gn = genops_time(path)
            rows.append((name, size, ops, mg, gn))
            os.unlink(path)
    print("| file | size (MB) | opcodes | modelgate scan (s) | MB/s "
          "| genops loop (s) | MB/s | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, size, ops, mg, gn in rows:
        mb = size / 1e6
        print(f"| {name} | {mb:.1f} | {ops:,} | {mg:.3f} | {mb / mg:.0f} "
              f"| {gn:.2f} | {mb / gn:.1f} | {gn / mg:.0f}x |")


if __name__ == "__main__":
    main()
