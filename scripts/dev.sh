#!/usr/bin/env bash
# modelgate developer entry point, for a fresh Debian 12 machine as root.
#   scripts/dev.sh demo   install what is missing, build, scan examples/
#   scripts/dev.sh test   install what is missing, build (dev and ASan+UBSan),
#                         run the whole test suite; ends with "N passed, N failed"
#   scripts/dev.sh deps   only install the Debian packages
#   scripts/dev.sh build  only configure and build build/ (dev preset)
# Idempotent: packages already present are not reinstalled, builds are
# incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)

# Build and test dependencies (Debian 12 package names). The Python ones are
# for /usr/bin/python3 (Debian's interpreter): fixture generators, pytest
# golden tests, JSON schema validation, real torch/numpy/joblib files.
PKGS_BUILD="build-essential cmake pkg-config libarchive-dev zlib1g-dev
  libssl-dev libjansson-dev libseccomp-dev libcmocka-dev libsqlite3-dev
  libhdf5-dev"
PKGS_TEST="python3 python3-pytest python3-jsonschema python3-numpy
  python3-torch python3-joblib python3-sklearn mandoc clang
  libclang-rt-14-dev clang-format openssl python3-cryptography bc 7zip
  python3-yaml libsqlite3-dev sqlite3 python3-h5py python3-onnx"

need_pkgs() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$p")
    done
    echo "${missing[@]:-}"
}

install_pkgs() {
    # shellcheck disable=SC2086
    local missing
    missing=$(need_pkgs $*)
    [ -z "$missing" ] && return 0
    echo "== installing Debian packages: $missing"
    if [ "$(id -u)" != 0 ]; then
        echo "modelgate: need root to install: $missing" >&2
        echo "modelgate: run as root, or install them and retry" >&2
        exit 2
    fi
    if ! command -v apt-get >/dev/null; then
        echo "modelgate: apt-get not found: install these packages by hand: $missing" >&2
        exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || { echo "modelgate: apt-get update failed" >&2; exit 2; }
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
        echo "modelgate: could not install: $missing" >&2
        exit 2
    }
}

build() { # build DIR CMAKE-ARGS...
    local dir=$1
    shift
    cmake -S "$ROOT" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
}

cmd=${1:-}
case "$cmd" in
deps)
    install_pkgs $PKGS_BUILD $PKGS_TEST
    ;;
build)
    install_pkgs $PKGS_BUILD
    build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMG_TESTS=OFF
    ;;
demo)
    install_pkgs $PKGS_BUILD
    build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMG_TESTS=OFF
    echo
    echo "== modelgate scan examples/"
    set +e
    ./build/modelgate scan --no-color examples/
    rc=$?
    set -e
    echo
    echo "== exit status $rc (0 nothing found, 1 something found, 2 incomplete)"
    echo "== the binary is build/modelgate; 'build/modelgate --help' lists the commands"
    ;;
test)
    install_pkgs $PKGS_BUILD $PKGS_TEST
    exec "$ROOT/scripts/run-tests.sh"
    ;;
*)
    sed -n '2,9p' "$0"
    exit 2
    ;;
esac
