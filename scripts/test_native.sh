#!/usr/bin/env bash
# Builds the core library and the native kernel tests for this machine and runs them: every kernel set the CPU
# supports against a naive loop. Arguments go to the test binary. Build directory: build-native/ (override with
# BUILD_DIR); extra CMake options via CMAKE_ARGS, e.g. CMAKE_ARGS=-DEDGEASR_SIMD=OFF for the scalar path only.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-native}

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# shellcheck disable=SC2086  # CMAKE_ARGS is a list of options
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DEDGEASR_PYTHON=OFF -DEDGEASR_NATIVE_TESTS=ON ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" --target edgeasr_kernel_tests -j "$(nproc)"
exec "$BUILD_DIR/edgeasr_kernel_tests" "$@"
