#!/usr/bin/python3
"""Wall time of a benign torch.load outside and inside `modelgate sandbox`.

Usage: /usr/bin/python3 bench/sandbox/torch_load_overhead.py \
           [--modelgate build/modelgate] [--reps 10] [--sizes 4,64]

For each checkpoint size (MiB of float32 weights, a state dict of Linear
layers written with torch.save), runs the same interpreter command
  python3 -I -B -c "import sys, torch; torch.load(sys.argv[1],
                    weights_only=False)" FILE
outside (with the sandbox's minimal environment) and as
  modelgate sandbox --torch-load FILE --python /usr/bin/python3
alternating the two, --reps times each, and prints median, mean and min
wall times and the ratio of the medians. Needs Debian's python3-torch.
Nothing here is run by the test suite.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

PY = "/usr/bin/python3"
CODE = "import sys, torch; torch.load(sys.argv[1], weights_only=False)"
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent",
       "LANG": "C.UTF-8"}


def make_checkpoint(path, mib):
    n = max(1, mib * (1 << 20) // (4 * 1024 * 1024))
    subprocess.run([PY, "-c",
                    "import sys, torch\n"
                    "n = int(sys.argv[2])\n"
                    "m = torch.nn.Sequential(*[torch.nn.Linear(1024, 1024)"
                    " for _ in range(n)])\n"
                    "torch.save(m.state_dict(), sys.argv[1])",
                    path, str(n)], check=True)


def timed(argv, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {argv}\n"
                 f"{p.stderr.decode(errors='replace')}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelgate", default="build/modelgate")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--sizes", default="4,64")
    a = ap.parse_args()
    real_py = os.path.realpath(PY)
    print(f"# {os.uname().release}, {os.cpu_count()} cores, "
          f"{a.reps} repetitions each, alternating")
    print("| checkpoint | outside median / mean / min (s) | "
          "sandbox median / mean / min (s) | ratio of medians |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as d:
        for mib in (int(s) for s in a.sizes.split(",")):
            ck = os.path.join(d, f"m{mib}.pt")
            make_checkpoint(ck, mib)
            out_t, in_t = [], []
            outside = [real_py, "-I", "-B", "-c", CODE, ck]
            inside = [a.modelgate, "sandbox", "--torch-load", ck,
                      "--python", PY]
            timed(outside, ENV)  # warm the page cache once
            timed(inside)
            for _ in range(a.reps):
                out_t.append(timed(outside, ENV))
                in_t.append(timed(inside))
            mo, mi = statistics.median(out_t), statistics.median(in_t)
            size = os.path.getsize(ck) / (1 << 20)
            print(f"| {size:.0f} MiB state dict | {mo:.3f} / "
                  f"{statistics.mean(out_t):.3f} / {min(out_t):.3f} | "
                  f"{mi:.3f} / {statistics.mean(in_t):.3f} / "
                  f"{min(in_t):.3f} | {mi / mo:.3f} |")


if __name__ == "__main__":
    main()
