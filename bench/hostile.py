#!/usr/bin/env python3
"""Peak memory and time of `modelgate scan` on each hostile input of
tests/tools/hostile.py (built in a temporary folder, deleted after).

    /usr/bin/python3 bench/hostile.py [--modelgate build-release/modelgate]

Prints a Markdown table for docs/benchmarks.md (max RSS from GNU time,
Debian package `time`)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "tools"))
import hostile  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelgate", default="build/modelgate")
    a = ap.parse_args()
    d = tempfile.mkdtemp()
    try:
        paths = hostile.write_all(d)
        print("| input | size | verdict | limit or finding | seconds "
              "| max RSS (MiB) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, (path, args) in paths.items():
            # GNU time measures the scanner alone (a child forked from this
            # Python process would count the parent's pages until exec).
            t = time.monotonic()
            rss_file = os.path.join(d, "rss")
            p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file,
                                a.modelgate, "scan", "--format", "json",
                                *args, path], capture_output=True)
            dt = time.monotonic() - t
            out = p.stdout
            rss_kib = int(open(rss_file).read().split()[-1])
            f = json.loads(out)["files"][0]
            lim = sorted({x["name"] for x in f["findings"]
                          if x["rule"] == "limit"})
            worst = sorted({x["rule"] for x in f["findings"]
                            if x["severity"] in ("suspicious", "dangerous")})
            what = ", ".join(lim) if lim else (", ".join(worst) or "-")
            print(f"| {name} | {os.path.getsize(path):,} | {f['verdict']} "
                  f"| {what} | {dt:.2f} | {rss_kib / 1024:.0f} |")
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
