#!/usr/bin/env bash
# Debian/Ubuntu packages for cross-building and emulating AArch64: scripts/test_neon.sh (the NEON kernels) and
# scripts/test_aarch64_python.sh (the Python package; qemu-user-binfmt lets its tests start AArch64 subprocesses).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y g++-aarch64-linux-gnu qemu-user qemu-user-binfmt
