#!/usr/bin/env bash
# Scan throughput and the results cache, measured on generated folders in
# /tmp (deleted at the end):
#   bench/scan/run.sh [MODELGATE] [NFILES] [NCACHE] [REPEAT] [NBIG]
# 1. NFILES (default 1000) small model files (bench/scan/gen.py): best of
#    REPEAT (default 3) wall-clock runs of `scan -j 1` and `scan -j 2`,
#    files per second and MB per second (page cache warm).
# 2. NCACHE (default 100000) tiny pickle files: `scan -j 2` without a
#    cache, the first `--cache` run (scans and fills it), then rescans
#    that answer every file from it.
# 3. NBIG (default 20) pickles of 50 MB of opcodes each (the slow case for
#    the scanner): `scan -j 2` without a cache, then a rescan with a
#    filled cache.
set -euo pipefail
MG=${1:-build/modelgate}
N=${2:-1000}
NC=${3:-100000}
REPEAT=${4:-3}
NBIG=${5:-20}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/mg-bench-scan.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

best() { # best of REPEAT: prints seconds; the command's output is dropped
    local b=
    for _ in $(seq "$REPEAT"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || [ $? -le 2 ]
        t1=$(date +%s.%N)
        local d
        d=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$b" ] || [ "$(echo "$d < $b" | bc -l)" = 1 ]; then b=$d; fi
    done
    printf '%.3f' "$b"
}

echo "== generating $N small model files"
$PY "$HERE/gen.py" "$WORK/models" "$N"
bytes=$(du -sb "$WORK/models" | cut -f1)
files=$(find "$WORK/models" -type f | wc -l)
echo "files: $files, bytes: $bytes"
"$MG" scan --no-progress "$WORK/models" | tail -1 || true
for j in 1 2; do
    s=$(best "$MG" scan --no-progress -j "$j" "$WORK/models")
    echo "scan -j $j: $s s, $(echo "$files / $s" | bc -l | xargs printf '%.0f') files/s, $(echo "$bytes / $s / 1000000" | bc -l | xargs printf '%.1f') MB/s"
done

echo "== generating $NC tiny files for the cache"
$PY "$HERE/gen.py" "$WORK/many" "$NC" --tiny
files=$(find "$WORK/many" -type f | wc -l)
bytes=$(du -sb "$WORK/many" | cut -f1)
echo "files: $files, bytes: $bytes"
s=$(best "$MG" scan --no-progress -j 2 "$WORK/many")
echo "scan -j 2, no cache: $s s"
t0=$(date +%s.%N)
"$MG" scan --no-progress -j 2 --cache "$WORK/cache.db" "$WORK/many" >/dev/null || true
t1=$(date +%s.%N)
echo "scan -j 2 --cache, first run (fills it): $(echo "$t1 - $t0" | bc -l | xargs printf '%.3f') s"
s=$(best "$MG" scan --no-progress -j 2 --cache "$WORK/cache.db" "$WORK/many")
echo "scan -j 2 --cache, rescan: $s s"
"$MG" scan --no-progress -j 2 --cache "$WORK/cache.db" "$WORK/many" | tail -1 || true
echo "cache file: $(du -b "$WORK/cache.db" | cut -f1) bytes"

echo "== generating $NBIG pickles of 50 MB"
mkdir -p "$WORK/big"
$PY - "$WORK/big" "$NBIG" <<'PYEOF'
import os, sys
out, n = sys.argv[1], int(sys.argv[2])
body = (b"(" + b"K\x01" * 1000 + b"e") * 25000
for i in range(n):
    with open(os.path.join(out, "big%03d.pkl" % i), "wb") as f:
        f.write(b"\x80\x02]q\x00" + body + b"K%c" % (i % 256) + b"a.")
PYEOF
bytes=$(du -sb "$WORK/big" | cut -f1)
echo "files: $NBIG, bytes: $bytes"
s=$(best "$MG" scan --no-progress -j 2 "$WORK/big")
echo "scan -j 2, no cache: $s s"
"$MG" scan --no-progress -j 2 --cache "$WORK/big.db" "$WORK/big" >/dev/null || true
s=$(best "$MG" scan --no-progress -j 2 --cache "$WORK/big.db" "$WORK/big")
echo "scan -j 2 --cache, rescan: $s s"
