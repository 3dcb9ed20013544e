#!/usr/bin/env bash
# Cross-builds the core library and the native tests for AArch64 and runs them under qemu-user, so the NEON kernels
# (and the search, whose text handling meets AArch64's unsigned char) are checked on an x86 machine. Arguments go to the test binary (--quick: fewer GEMM row counts).
# Build directory: build-aarch64/ (override with BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-aarch64}

missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test_neon.sh: missing ${missing[*]}; install with scripts/install_debian_deps.sh" >&2
  exit 2
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# Static linking: the binary then runs under qemu without the target's shared libraries.
cmake -S . -B "$BUILD_DIR" "${generator[@]}" \
  -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_EXE_LINKER_FLAGS=-static \
  -DEDGEASR_PYTHON=OFF -DEDGEASR_NATIVE_TESTS=ON
cmake --build "$BUILD_DIR" --target edgeasr_kernel_tests edgeasr_runtime_tests edgeasr_search_tests -j "$(nproc)"

# The runtime tests run the network (float and every quantized format) on the NEON kernels too.
status=0
qemu-aarch64 -L /usr/aarch64-linux-gnu "$BUILD_DIR/edgeasr_kernel_tests" "$@" || status=1
qemu-aarch64 -L /usr/aarch64-linux-gnu "$BUILD_DIR/edgeasr_runtime_tests" "$@" || status=1
qemu-aarch64 -L /usr/aarch64-linux-gnu "$BUILD_DIR/edgeasr_search_tests" "$@" || status=1
exit "$status"
