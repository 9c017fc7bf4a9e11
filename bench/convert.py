#!/usr/bin/env python3
"""Conversion time of a large checkpoint against copying its bytes.

    /usr/bin/python3 bench/convert.py [--modelgate build/modelgate]
        [--gb 1.0] [--runs 5] [--dir /tmp] [--legacy]

Writes a state dict of about --gb GiB with torch.save (model-like shapes,
float32 and float16, random values; ZIP format, or the legacy format with
--legacy) into a fresh folder under --dir, reads it once so that every
command reads it from the page cache, then alternates, --runs times each,
in the same run:

  cp SRC DST                       the same bytes copied
  cp SRC DST && sync DST           ... and flushed to disk (fsync)
  modelgate convert SRC OUT        which scans, converts and fsyncs

deleting each output before the next command. Every converted file is
checked against the tensors written. Prints Markdown for
docs/benchmarks.md; the folder is deleted at the end.
"""
import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import torch


def state_dict(gib):
    """Model-like tensors until the total reaches gib GiB."""
    torch.manual_seed(0)
    sd, total, i = {}, 0, 0
    hidden = 2048
    sd["embed.weight"] = torch.empty(32000, hidden).uniform_()
    total += sd["embed.weight"].numel() * 4
    while total < gib * (1 << 30):
        pre = f"layers.{i}."
        for name, shape, dt in (
                ("attn.qkv.weight", (3 * hidden, hidden), torch.float16),
                ("attn.out.weight", (hidden, hidden), torch.float32),
                ("mlp.up.weight", (4 * hidden, hidden), torch.float16),
                ("mlp.down.weight", (hidden, 4 * hidden), torch.float32),
                ("norm.weight", (hidden,), torch.float32),
                ("norm.bias", (hidden,), torch.float32)):
            t = torch.empty(shape).uniform_().to(dt)
            sd[pre + name] = t
            total += t.numel() * t.element_size()
        i += 1
    return sd, total


def timed(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}\n"
                 f"{p.stderr.decode(errors='replace')}")
    return dt


def check(path, sd):
    """The converted file holds every tensor, byte for byte."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        base = 8 + n
        head.pop("__metadata__")
        assert set(head) == set(sd), "names differ"
        for name, info in head.items():
            b, e = info["data_offsets"]
            f.seek(base + b)
            raw = f.read(e - b)
            want = sd[name].contiguous().view(-1).view(torch.uint8)
            assert raw == want.numpy().tobytes(), name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelgate", default="build/modelgate")
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--legacy", action="store_true")
    a = ap.parse_args()
    binary = os.path.abspath(a.modelgate)
    work = tempfile.mkdtemp(prefix="mg-bench-convert-", dir=a.dir)
    try:
        sd, total = state_dict(a.gb)
        src = os.path.join(work, "pytorch_model.bin")
        torch.save(sd, src, _use_new_zipfile_serialization=not a.legacy)
        size = os.path.getsize(src)
        with open(src, "rb") as f:  # into the page cache
            while f.read(1 << 24):
                pass
        dst = os.path.join(work, "copy.bin")
        out = os.path.join(work, "model.safetensors")
        cmds = {
            "cp": [["cp", src, dst]],
            "cp + sync": [["cp", src, dst], ["sync", dst]],
            "modelgate convert": [[binary, "convert", "-q", src, out]],
        }
        times = {k: [] for k in cmds}
        for r in range(a.runs):
            for name, steps in cmds.items():
                dt = sum(timed(c) for c in steps)
                times[name].append(dt)
                if name == "modelgate convert" and r == 0:
                    check(out, sd)
                for p in (dst, out):
                    if os.path.exists(p):
                        os.unlink(p)
        fmt = "legacy" if a.legacy else "ZIP"
        print(f"checkpoint: {fmt} format, {len(sd)} tensors, {total} bytes "
              f"of tensor data, file {size} bytes; {a.runs} runs each, "
              "alternating\n")
        print("| command | median s | min s | MB/s (median) | "
              "median / cp |")
        print("| --- | --- | --- | --- | --- |")
        cp = statistics.median(times["cp"])
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"| {name} | {med:.2f} | {min(ts):.2f} | "
                  f"{size / med / 1e6:.0f} | {med / cp:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
