#!/usr/bin/env bash
# Run libFuzzer targets for a given time each (issue: hardening).
#
#   scripts/fuzz.sh SECONDS [TARGET...]      default: every target
#
# Builds the fuzz preset (clang, -fsanitize=fuzzer,address,undefined) in
# build-fuzz, then runs each target in turn for SECONDS on a scratch copy
# of its seeds (fuzz/corpus/<target> and the fixture folders that
# fuzz/CMakeLists.txt names), with its dictionary when fuzz/dict has one.
# Crashes are left as crash-*/leak-*/timeout-* files in
# build-fuzz/findings/<target>/; the script prints one line per target
# (runs, new corpus entries, status) and exits 1 if any target found
# something. Commit a finding to fuzz/corpus/<target>/ with its fix.
set -u
cd "$(dirname "$0")/.." || exit 2
secs=${1:-}
case "$secs" in
'' | *[!0-9]*)
    echo "usage: scripts/fuzz.sh SECONDS [TARGET...]" >&2
    exit 2
    ;;
esac
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    read -r -a targets < <(awk '/^set\(MG_FUZZ_TARGETS/ { on = 1 }
        on { printf "%s ", $0; if ($0 ~ /\)/) exit }' fuzz/CMakeLists.txt |
        sed 's/set(MG_FUZZ_TARGETS//; s/)//')
fi
# MG_FUZZ_NO_BUILD=1: use build-fuzz as it is (several runs side by side
# must not rebuild it under each other)
if [ "${MG_FUZZ_NO_BUILD:-}" != 1 ] || [ ! -d build-fuzz/fuzz ]; then
    cmake --preset fuzz >/dev/null && cmake --build build-fuzz -j2 >/dev/null ||
        {
            echo "fuzz build failed (needs clang and libclang-rt-14-dev)" >&2
            exit 2
        }
fi

# The seed folders of a target, as fuzz/CMakeLists.txt lists them.
seeds_of() {
    awk -v t="MG_FUZZ_SEEDS_$1" '
        $0 ~ "^set\\(" t " " { on = 1 }
        on { print; if ($0 ~ /\)/) exit }' fuzz/CMakeLists.txt |
        grep -o '/tests/[^ )]*\|/examples' | sed "s#^#$PWD#"
}

found=0
for t in "${targets[@]}"; do
    bin=build-fuzz/fuzz/${t}_fuzz
    [ -x "$bin" ] || {
        echo "$t: no such target" >&2
        found=1
        continue
    }
    work=$(mktemp -d)
    mkdir -p "$work/corpus" "build-fuzz/findings/$t"
    for d in "fuzz/corpus/$t" $(seeds_of "$t"); do
        [ -d "$d" ] && find "$d" -maxdepth 1 -type f ! -name README \
            -exec cp -t "$work/corpus/" {} +
    done
    before=$(find "$work/corpus" -type f | wc -l)
    dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="$PWD/fuzz/dict/$t.dict")
    start=$(date +%s)
    (cd "build-fuzz/findings/$t" &&
        "$OLDPWD/$bin" "${dict[@]}" -max_total_time="$secs" -timeout=30 \
            -rss_limit_mb=2048 -print_final_stats=1 "$work/corpus" \
            >"$work/log" 2>&1)
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    after=$(find "$work/corpus" -type f | wc -l)
    status=ok
    if [ $rc -ne 0 ]; then
        status="FOUND (exit $rc): see build-fuzz/findings/$t"
        cp "$work/log" "build-fuzz/findings/$t/log"
        found=1
    fi
    echo "$t: $(($(date +%s) - start)) s, ${runs:-?} runs, corpus" \
        "$before -> $after, $status"
    rm -rf "$work"
done
exit $found
