#!/usr/bin/env bash
# Builds the core library and the native tests for this machine and runs them: every kernel set the CPU supports
# against a naive loop, the runtime network against a naive reference, and the search (greedy, beam, biasing,
# lattice) against exact expected scores. Arguments go to every test binary.
# Build directory: build-native/ (override with BUILD_DIR); extra CMake options via CMAKE_ARGS, e.g.
# CMAKE_ARGS=-DEDGEASR_SIMD=OFF for the scalar path only.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-native}

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# shellcheck disable=SC2086  # CMAKE_ARGS is a list of options
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DEDGEASR_PYTHON=OFF -DEDGEASR_NATIVE_TESTS=ON ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" --target edgeasr_kernel_tests edgeasr_runtime_tests edgeasr_search_tests -j "$(nproc)"
# All run even if one fails, so one report shows every failure.
status=0
"$BUILD_DIR/edgeasr_kernel_tests" "$@" || status=1
"$BUILD_DIR/edgeasr_runtime_tests" "$@" || status=1
"$BUILD_DIR/edgeasr_search_tests" "$@" || status=1
exit "$status"
