#!/usr/bin/env bash
# An edgeasr wheel for 64-bit ARM Linux (Raspberry Pi 4/5 and phone-class boards with CPython 3.11), built on this x86
# machine: edgeasr._core is cross-compiled with Debian's AArch64 toolchain against Debian's arm64 CPython 3.11 headers,
# and put in place of the x86 module in the wheel `pip wheel .` builds here (the same Python files, bundled model,
# LM and clips); the wheel's tag says cp311-cp311-linux_aarch64. scripts/test_aarch64_python.sh installs this wheel
# and checks it under qemu-user. Prints the C library versions the module needs (glibc, libstdc++), read from it.
#
# Usage: bash scripts/build_wheel_aarch64.sh [OUT_DIR]    (default dist/; work directory build-aarch64-python/,
#        override with WORK_DIR). Needs root once, for the sysroot (see below), and pybind11 and wheel installed.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(realpath -m "${WORK_DIR:-build-aarch64-python}")
OUT=$(realpath -m "${1:-dist}")
ROOT=$WORK/sysroot

missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
[ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] || missing+=(qemu-user-binfmt)
if [ ${#missing[@]} -gt 0 ]; then
  echo "build_wheel_aarch64.sh: missing ${missing[*]}; install with scripts/install_debian_deps.sh" >&2
  exit 2
fi
for module in pybind11 wheel; do
  if ! python -c "import $module" 2>/dev/null; then
    echo "build_wheel_aarch64.sh: the Python package $module is missing; pip install $module" >&2
    exit 2
  fi
done
# CMake asks the arm64 interpreter about itself: it runs through binfmt_misc.
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
fi
export QEMU_LD_PREFIX=$ROOT   # where AArch64 programs find their loader and libraries, binfmt or not

# 1. Debian's arm64 CPython 3.11 and the libraries its standard modules load, unpacked into a sysroot (root: it adds
#    the arm64 architecture to dpkg for as long as the download takes, and installs nothing).
if [ ! -x "$ROOT/usr/bin/python3.11" ]; then
  added_arm64=0
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64 && apt-get update -qq && added_arm64=1
  fi
  mkdir -p "$WORK/debs" "$ROOT/lib"
  (cd "$WORK/debs" && apt-get download -q python3.11-minimal:arm64 libpython3.11-minimal:arm64 \
     libpython3.11-stdlib:arm64 libpython3.11-dev:arm64 libpython3.11:arm64 libexpat1:arm64 zlib1g:arm64 \
     libffi8:arm64 libssl3:arm64 libbz2-1.0:arm64 liblzma5:arm64 libuuid1:arm64 libsqlite3-0:arm64 \
     libncursesw6:arm64 libtinfo6:arm64 libcrypt1:arm64)
  if [ "$added_arm64" = 1 ]; then   # nothing was installed: leave dpkg and apt as they were
    dpkg --remove-architecture arm64 && apt-get update -qq
  fi
  for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$ROOT"; done
  mkdir -p "$ROOT/lib/aarch64-linux-gnu"
  cp -an /usr/aarch64-linux-gnu/lib/. "$ROOT/lib/aarch64-linux-gnu/"   # glibc of the cross toolchain
  cp -a /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 "$ROOT/lib/"
fi
PY=$ROOT/usr/bin/python3.11

# 2. edgeasr._core for AArch64, against the arm64 Python's headers (its pyconfig.h is found through -I).
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$WORK/build" "${generator[@]}" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DEDGEASR_PYTHON=ON -DEDGEASR_NATIVE_TESTS=OFF -DPython_EXECUTABLE="$PY" \
  -DPython_INCLUDE_DIR="$ROOT/usr/include/python3.11" -DCMAKE_CXX_FLAGS="-I$ROOT/usr/include" \
  -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" >/dev/null
cmake --build "$WORK/build" --target _core -j "$(nproc)"
core=$(ls "$WORK"/build/_core*.so)

# 3. The wheel: this machine's, with the AArch64 module in place of its own and the tag of the target.
rm -rf "$WORK/host-wheel" "$WORK/unpacked" && mkdir -p "$WORK/host-wheel" "$WORK/unpacked" "$OUT"
pip wheel . --no-deps -q -Cbuild-dir="$WORK/host-build" -w "$WORK/host-wheel"
python -m wheel unpack -d "$WORK/unpacked" "$WORK"/host-wheel/edgeasr-*.whl >/dev/null
tree=$(ls -d "$WORK"/unpacked/edgeasr-*)
rm "$tree"/edgeasr/_core*.so
suffix=$("$PY" -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")   # .cpython-311-aarch64-...
cp "$core" "$tree/edgeasr/_core$suffix"
python - "$tree" <<'EOF'
import sys
from pathlib import Path
wheel = next(Path(sys.argv[1]).glob("*.dist-info")) / "WHEEL"
lines = [l for l in wheel.read_text().splitlines() if l.strip() and not l.startswith("Tag:")]  # headers only
wheel.write_text("\n".join(lines + ["Tag: cp311-cp311-linux_aarch64"]) + "\n")
EOF
rm -f "$OUT"/edgeasr-*-linux_aarch64.whl
python -m wheel pack -d "$OUT" "$tree" >/dev/null
built=$(ls "$OUT"/edgeasr-*-linux_aarch64.whl)

# What the target's C libraries must provide (the newest symbol versions the module uses).
newest() { aarch64-linux-gnu-objdump -T "$core" | grep -o "$1_[0-9.]*" | sed "s/^$1_//" | sort -V | tail -1; }
echo "wheel: $built ($(stat -c %s "$built") bytes)"
echo "needs on the target: CPython 3.11, glibc >= $(newest GLIBC), libstdc++ with GLIBCXX_$(newest GLIBCXX)"
