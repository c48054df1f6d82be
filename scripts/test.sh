#!/usr/bin/env bash
# Set up whatever is missing, then run every test agentd has:
#   1. a build with -DAGENTD_WERROR=ON and the whole CTest suite;
#   2. the unit tests of that build (and the SDK example's behaviour test)
#      again under valgrind (ctest -T memcheck);
#   3. a second build with -DAGENTD_SANITIZE=address,undefined and the whole
#      suite again;
#   4. the ABI check against the committed baseline and the out-of-tree SDK
#      example, last, so the output ends with ctest's summary.
# Stops at the first failing step with a non-zero exit status.
#
#   scripts/test.sh
#
# Environment: AGENTD_TEST_BUILD_DIR (default: build-test; the sanitizer
# build goes to <dir>-asan), AGENTD_TEST_JOBS (parallel tests, default 1),
# AGENTD_TEST_SKIP (space-separated steps to skip: werror valgrind asan abi).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${AGENTD_TEST_BUILD_DIR:-$root/build-test}"
build_asan="$build-asan"
jobs="${AGENTD_TEST_JOBS:-1}"
skip=" ${AGENTD_TEST_SKIP:-} "
cd "$root"
export CTEST_OUTPUT_ON_FAILURE=1

step() { printf '\n=== test.sh: %s\n' "$*"; }
skipped() { [[ "$skip" == *" $1 "* ]] && { step "$1: skipped (AGENTD_TEST_SKIP)"; return 0; }; return 1; }

step "setting up dependencies"
"$root/scripts/setup-deps.sh"

configure_build() { # DIR CMAKE-ARGS...
    local dir="$1"
    shift
    cmake -S "$root" -B "$dir" -DBUILD_TESTING=ON "$@"
    cmake --build "$dir" -j2
}

# ctest in DIR with extra args; tests that leave files behind use the build dir.
run_ctest() { # DIR ARGS...
    local dir="$1"
    shift
    ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$jobs" "$@"
}

if ! skipped werror; then
    step "1/4 build with -DAGENTD_WERROR=ON ($build)"
    configure_build "$build" -DAGENTD_WERROR=ON -DAGENTD_SANITIZE=
    step "1/4 the whole suite"
    run_ctest "$build"
fi

if ! skipped valgrind; then
    step "2/4 unit tests under valgrind"
    [ -d "$build" ] || configure_build "$build" -DAGENTD_WERROR=ON -DAGENTD_SANITIZE=
    supp="$root/scripts/valgrind.supp"
    set +e
    run_ctest "$build" -T memcheck -R '^(unit\.|sdk_example\.behaviour$)' \
        --overwrite MemoryCheckCommand="$(command -v valgrind)" \
        --overwrite "MemoryCheckCommandOptions=--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect --track-origins=yes --num-callers=30" \
        --overwrite MemoryCheckSuppressionFile="$supp"
    rc=$?
    set -e
    if [ $rc -ne 0 ]; then
        # ctest keeps valgrind's reports in files: show them.
        for f in "$build"/Testing/Temporary/MemoryChecker.*.log; do
            [ -s "$f" ] || continue
            echo "--- $f"
            cat "$f"
        done
        exit $rc
    fi
fi

if ! skipped asan; then
    step "3/4 build with -DAGENTD_SANITIZE=address,undefined ($build_asan)"
    configure_build "$build_asan" -DAGENTD_WERROR=ON -DAGENTD_SANITIZE=address,undefined
    step "3/4 the whole suite under ASan and UBSan"
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        run_ctest "$build_asan"
fi

if ! skipped abi; then
    step "4/4 ABI check against sdk/abi/agentd-sdk-abi.xml, and the SDK example"
    [ -d "$build" ] || configure_build "$build" -DAGENTD_WERROR=ON -DAGENTD_SANITIZE=
    run_ctest "$build" -R '^(abi|sdk_example)\.'
fi
