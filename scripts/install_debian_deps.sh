#!/usr/bin/env bash
# Debian/Ubuntu packages for cross-building and emulating the AArch64 (NEON) kernels: scripts/test_neon.sh.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y g++-aarch64-linux-gnu qemu-user
