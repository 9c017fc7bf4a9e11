#!/usr/bin/env bash
# Hashing throughput of modelgate sign/verify on a generated 2 GB model
# folder, against `openssl dgst -sha256` and `sha256sum` of the same files
# in the same run. Files are read once first, so every tool reads from the
# page cache (this measures hashing, not the disk).
#   bench/hash/run.sh [MODELGATE] [SIZE_MB] [REPEAT]
# Prints a Markdown table; deletes its data on exit. Needs openssl, bc.
set -euo pipefail
MG=${1:-build/modelgate}
SIZE_MB=${2:-2048}
REPEAT=${3:-3}
NFILES=8
TMP=$(mktemp -d /tmp/mg-hash-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
M=$TMP/model
mkdir -p "$M/sub"
per=$((SIZE_MB / NFILES))
for i in $(seq 1 $NFILES); do
    # incompressible content, as real weights are
    openssl rand -out "$M/model-0000$i-of-0000$NFILES.safetensors" \
        $((per * 1048576))
done
for i in $(seq 1 20); do echo "{\"small\": $i}" >"$M/sub/config$i.json"; done
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/k.pem"
openssl ec -in "$TMP/k.pem" -pubout -out "$TMP/k.pub" 2>/dev/null
FILES=$(find "$M" -type f | sort)
BYTES=$(cat $FILES | wc -c)
cat $FILES >/dev/null # warm the page cache
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

best() { # best wall time of REPEAT runs of "$@", in seconds
    local b=""
    for _ in $(seq 1 "$REPEAT"); do
        local t0 t1 d
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s.%N)
        d=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$b" ] || [ "$(echo "$d < $b" | bc -l)" = 1 ]; then b=$d; fi
    done
    echo "$b"
}
row() { # NAME CORES SECONDS
    local mbs
    mbs=$(echo "$BYTES / $3 / 1000000" | bc -l)
    printf '| %s | %s | %.2f | %.0f | %.0f |\n' "$1" "$2" "$3" "$mbs" \
        "$(echo "$mbs / $2" | bc -l)"
}
t_ossl=$(best openssl dgst -sha256 $FILES)
t_sum=$(best sha256sum $FILES)
t_s1=$(best "$MG" sign --key "$TMP/k.pem" -j 1 -o "$TMP/m.sig" "$M")
t_s2=$(best "$MG" sign --key "$TMP/k.pem" -j 2 -o "$TMP/m.sig" "$M")
t_v2=$(best "$MG" verify --key "$TMP/k.pub" -j 2 --signature "$TMP/m.sig" "$M")
own=$("$MG" verify --key "$TMP/k.pub" -j 2 --signature "$TMP/m.sig" "$M" 2>&1 >/dev/null)
echo "model: $NFILES x ${per} MiB + 20 small files = $BYTES bytes; best of $REPEAT runs (wall clock, warm page cache)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(openssl version)"
echo
echo '| tool | cores used | seconds | MB/s | MB/s per core |'
echo '| --- | --- | --- | --- | --- |'
row 'openssl dgst -sha256 (all files)' 1 "$t_ossl"
row 'sha256sum (all files)' 1 "$t_sum"
row 'modelgate sign -j 1' 1 "$t_s1"
row 'modelgate sign -j 2' 2 "$t_s2"
row 'modelgate verify -j 2' 2 "$t_v2"
echo
echo "sign -j 1 vs openssl, per core: $(echo "100 * $t_ossl / $t_s1" | bc -l | cut -d. -f1)%"
echo "sign -j 2 vs openssl, per core: $(echo "100 * $t_ossl / $t_s2 / 2" | bc -l | cut -d. -f1)%"
echo "modelgate's own hashing figure (verify -j 2, last run): ${own#*hashed }"
echo "load average before the runs: $LOAD"
