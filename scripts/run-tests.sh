#!/usr/bin/env bash
# Runs the whole test suite: lint checks, a warnings-as-errors build with
# gcc and one with clang, then every ctest test on the gcc build and again
# on the ASan+UBSan build. Prints "N passed, N failed" last; exits non-zero
# on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0
failures=()

record() { # record NAME STATUS
    if [ "$2" = 0 ]; then passed=$((passed + 1)); else
        failed=$((failed + 1)); failures+=("$1"); fi
}

configure_build() { # NAME DIR ARGS...
    local name=$1 dir=$2
    shift 2
    echo "== build: $name"
    if cmake -S "$ROOT" -B "$dir" "$@" >"$dir.log" 2>&1 &&
        cmake --build "$dir" -j "$JOBS" >>"$dir.log" 2>&1; then
        record "build $name" 0
        return 0
    fi
    tail -40 "$dir.log"
    record "build $name" 1
    return 1
}

run_ctest() { # NAME DIR
    local name=$1 dir=$2 out
    echo "== tests: $name"
    out=$(cd "$dir" && ctest --output-on-failure -j "$JOBS" 2>&1)
    echo "$out" | grep -vE '^\s+(Start|[0-9]+/[0-9]+ Test)' | tail -40
    local p f
    # ctest prints "100% tests passed, ..." at the start of the line
    p=$(echo "$out" | sed -n 's/^\(.*[^0-9]\)\{0,1\}[0-9]*% tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\3 \2/p')
    if [ -z "$p" ]; then
        record "ctest $name (did not run)" 1
        return
    fi
    local total=${p% *} nfail=${p#* }
    passed=$((passed + total - nfail))
    failed=$((failed + nfail))
    [ "$nfail" = 0 ] || failures+=("ctest $name: $nfail failed")
}

mkdir -p build-ci
configure_build gcc build-ci/gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMG_WERROR=ON -DCMAKE_C_COMPILER=gcc -DMG_ALLOC_HOOKS=ON &&
    run_ctest gcc build-ci/gcc
configure_build asan build-ci/asan -DCMAKE_BUILD_TYPE=Debug -DMG_WERROR=ON \
    -DCMAKE_C_COMPILER=gcc -DMG_SANITIZE=ON -DMG_ALLOC_HOOKS=ON &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest asan build-ci/asan
if command -v clang >/dev/null; then
    configure_build clang build-ci/clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DMG_WERROR=ON -DCMAKE_C_COMPILER=clang -DMG_TESTS=OFF
    configure_build fuzz build-ci/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DMG_WERROR=ON -DCMAKE_C_COMPILER=clang -DMG_FUZZ=ON
else
    record "clang build (clang missing)" 1
fi

echo
if [ "$failed" != 0 ]; then
    echo "failures:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
