#!/usr/bin/env bash
# Static checks that gate merges (STYLE.md rule 18), run by ctest:
#   lint.sh SRC_DIR BUILD_DIR CHECK
# CHECK is one of: format banned globals generated man
set -uo pipefail
src=$1 build=$2 check=$3
cd "$src" || exit 2
c_sources() {
    git ls-files '*.c' '*.h' 2>/dev/null | grep -vE \
        'src/pickle/(policy_tables|opcodes|names)\.c$|cli/rules_table\.h$' || find src cli include \
        tests/unit fuzz -name '*.[ch]'
}
case "$check" in
format)
    command -v clang-format >/dev/null || { echo "clang-format missing"; exit 1; }
    # shellcheck disable=SC2046
    clang-format --dry-run -Werror $(c_sources)
    ;;
banned)
    # Banned functions everywhere; raw malloc & co only in alloc.c (the
    # CLI and tests are not library code and may use libc allocation).
    # Memory that libc or a dependency allocated is freed with free() on a
    # line marked "libc-owned".
    bad=$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok|sscanf|alloca)\s*\(' \
        $(c_sources) | grep -v 'snprintf\|vsnprintf')
    alloc=$(grep -nE '\b(malloc|calloc|realloc|free|strdup|strndup)\s*\(' \
        $(git ls-files 'src/*.c') | grep -v '^src/core/alloc.c:' |
        grep -vE 'mg_(malloc|calloc|realloc|free|strdup|strndup)|\.(free|realloc)\b|libc-owned')
    if [ -n "$bad$alloc" ]; then
        printf '%s\n' "$bad" "$alloc" | grep -v '^$'
        exit 1
    fi
    ;;
globals)
    # No writable global state in the library (STYLE.md rule 4); the
    # allocation-failure hook exists only in MG_ALLOC_HOOKS test builds.
    # __odr_asan.* are the one-byte ODR-violation markers ASan adds per
    # exported global, not program state.
    lib=$(find "$build" -name 'libmodelgate.a' | head -1)
    [ -n "$lib" ] || { echo "libmodelgate.a not found"; exit 1; }
    # Read-only tables of pointers live in .data.rel.ro (RELRO), which nm
    # calls D too: the section, not the letter, decides. ASan builds add a
    # one-byte __odr_asan.NAME marker in .bss for every exported global.
    out=$(nm -f sysv -A "$lib" 2>/dev/null |
        awk -F'|' '$NF ~ /^ *\.(data|bss|tdata|tbss)(\.[^r]|$| )/ {print}' |
        grep -vE 'alloc_(fail_at_n|count_n)|__odr_asan')
    if [ -n "$out" ]; then
        echo "writable globals in libmodelgate:"
        echo "$out"
        exit 1
    fi
    ;;
generated)
    py=/usr/bin/python3
    $py tools/gen_policy_tables.py --check &&
        $py tests/fixtures/gen/make_pickles.py --check &&
        $py tests/fixtures/gen/make_containers.py --check &&
        $py tools/gen_rule_help.py --check || exit 1
    for g in safetensors gguf keras tf hf; do
        $py tests/fixtures/gen/make_$g.py --check || exit 1
    done
    ;;
man)
    command -v mandoc >/dev/null || { echo "mandoc missing"; exit 1; }
    mandoc -T lint -W warning doc/modelgate.1
    ;;
*)
    echo "unknown check $check"
    exit 2
    ;;
esac
