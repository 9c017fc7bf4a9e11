#!/usr/bin/env python3
"""Scanning cost of PyTorch ZIP checkpoints, and files per second.

    /usr/bin/python3 bench/containers.py [--modelgate build/modelgate]
        [--big-gb 10] [--files 1000] [--runs 3] [--dir /tmp]

1. The same state-dict layout with 10 MB and with --big-gb GB of tensor
   data (stored members written in 1 MiB chunks, then deleted): time and
   bytes read of `modelgate scan`, best of --runs. Only the central
   directory, data.pkl and a 4 KiB sniff per storage should be read.
2. A folder of --files small model files (torch.save-style ZIPs and
   plain pickles, written byte-exact): files per second at -j 1 and -j 2.
Prints Markdown for docs/benchmarks.md.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures", "gen"))
import make_pickles  # noqa: E402

P = make_pickles.P


def data_pkl(n_storages, numel):
    """data.pkl of an OrderedDict of n float32 tensors of numel each."""
    p = P().proto(2).global_("collections", "OrderedDict").empty_tuple()
    p.reduce().mark()
    for i in range(n_storages):
        p.binunicode(f"layer{i}.weight")
        p.global_("torch._utils", "_rebuild_tensor_v2")
        p.mark().mark().binunicode("storage").global_("torch",
                                                      "FloatStorage")
        p.binunicode(str(i)).binunicode("cpu").binint(numel).tuple_()
        p.binpersid().binint1(0).binint(numel).tuple1().binint1(1).tuple1()
        p.newfalse().global_("collections", "OrderedDict").empty_tuple()
        p.reduce().tuple_().reduce()
    p.setitems().stop()
    return p.bytes()


def write_checkpoint(path, total_bytes, n_storages=10):
    per = total_bytes // n_storages // 4 * 4
    chunk = b"\x00" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("ckpt/data.pkl", data_pkl(n_storages, per // 4))
        for i in range(n_storages):
            with z.open(f"ckpt/data/{i}", "w", force_zip64=True) as w:
                left = per
                while left:
                    k = min(left, len(chunk))
                    w.write(chunk[:k])
                    left -= k
        z.writestr("ckpt/version", "3\n")


def scan(binary, path, jobs=1):
    t = time.perf_counter()
    p = subprocess.run([binary, "scan", "--format", "json", "-j", str(jobs),
                        path], capture_output=True)
    dt = time.perf_counter() - t
    doc = json.loads(p.stdout)
    return dt, doc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelgate", default="build/modelgate")
    ap.add_argument("--big-gb", type=float, default=10)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/tmp")
    a = ap.parse_args()
    d = tempfile.mkdtemp(dir=a.dir)
    try:
        print("| checkpoint | file size | scan time (s, best of %d) "
              "| bytes read | verdict |" % a.runs)
        print("| --- | --- | --- | --- | --- |")
        for label, size in (("10 MB", 10 << 20),
                            (f"{a.big_gb:g} GB", int(a.big_gb * (1 << 30)))):
            path = os.path.join(d, "ckpt.pt")
            write_checkpoint(path, size)
            best = None
            for _ in range(a.runs):
                dt, doc = scan(a.modelgate, path)
                best = dt if best is None else min(best, dt)
            f = doc["files"][0]
            print(f"| {label} | {os.path.getsize(path):,} | {best:.3f} "
                  f"| {f['bytes_read']:,} | {f['verdict']} |")
            os.unlink(path)
        folder = os.path.join(d, "many")
        os.mkdir(folder)
        small = os.path.join(os.path.dirname(HERE), "tests", "fixtures")
        sd = open(os.path.join(small, "zip", "torch_benign.pt"), "rb").read()
        pk = open(os.path.join(small, "pickle", "ok_plain_p4.pkl"),
                  "rb").read()
        for i in range(a.files):
            with open(os.path.join(folder, f"m{i:04d}.pt"), "wb") as fh:
                fh.write(sd if i % 2 else pk)
        print()
        print("| folder | -j | seconds (best of %d) | files/s |" % a.runs)
        print("| --- | --- | --- | --- |")
        for jobs in (1, 2):
            best = None
            for _ in range(a.runs):
                dt, doc = scan(a.modelgate, folder, jobs)
                assert doc["summary"]["files"] == a.files
                best = dt if best is None else min(best, dt)
            print(f"| {a.files} small model files | {jobs} | {best:.3f} "
                  f"| {a.files / best:.0f} |")
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
