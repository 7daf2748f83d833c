#!/usr/bin/env bash
# README's second command and what CI runs (.ci/run): installs the Debian packages, builds, and
# runs every test twice: once in a normal build, once built with AddressSanitizer and
# UndefinedBehaviorSanitizer (any finding fails the run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

jobs=$(nproc)
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run_suite() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja "$@"
  cmake --build "$dir" -j"$jobs"
  # The e2e tests run one at a time: they measure nothing, but they share 2 cores with the relay.
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" -L unit
  ctest --test-dir "$dir" --output-on-failure -L e2e
}

echo "== optimised build (Release, as the quick start and the benchmarks build it)"
run_suite build-test -DCMAKE_BUILD_TYPE=Release
echo "== sanitizer build (address, undefined)"
run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DPOLICY_RELAY_SANITIZE=ON \
  -DPOLICY_RELAY_MICROBENCHMARKS=OFF
echo "all tests passed"
