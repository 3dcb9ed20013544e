#!/usr/bin/env bash
# The Python package on AArch64 (a Raspberry Pi 4/5, a phone-class board), checked on this x86 machine under
# qemu-user: cross-builds edgeasr._core with the AArch64 toolchain, runs Debian's arm64 CPython 3.11 with the package
# registry's aarch64 wheels of the dependencies, and
#   1. transcribes the bundled clips, the test clips and FSDD recordings (open vocabulary and with a digit grammar)
#      on both machines' builds and requires the same transcripts (scores within 1e-3: the float parts may round
#      differently, the integer products are exact);
#   2. runs the tests that need neither torch nor the training tools (the others build their models with torch).
# Timings under qemu mean nothing; none are taken. Needs root once: it adds the arm64 architecture to dpkg for as
# long as it takes to download (not install) Debian's arm64 Python, and registers qemu-aarch64 with binfmt_misc when
# it is not (tests start subprocesses of the interpreter). Work directory: build-aarch64-python/ (override with WORK_DIR).
#
# Usage: bash scripts/test_aarch64_python.sh [FSDD_CLIPS]   (default 100 FSDD clips; 0 for none)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
WORK=$(realpath -m "${WORK_DIR:-build-aarch64-python}")
FSDD_CLIPS=${1:-100}
ROOT=$WORK/sysroot

missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
[ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] || missing+=(qemu-user-binfmt)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test_aarch64_python.sh: missing ${missing[*]}; install with scripts/install_debian_deps.sh" >&2
  exit 2
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
fi
export QEMU_LD_PREFIX=$ROOT   # where AArch64 programs find their loader and libraries, binfmt or not

# 1. Debian's arm64 CPython 3.11 and the libraries its standard modules load, unpacked into a sysroot.
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

# 2. The dependencies (and the test tools) as the registry's aarch64 wheels, unpacked into one site folder.
if [ ! -d "$WORK/site/numpy" ]; then
  mkdir -p "$WORK/wheels" "$WORK/site"
  pip download -q --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
    --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux_2_28_aarch64 \
    -d "$WORK/wheels" "numpy>=1.24" "soundfile>=0.12" "safetensors>=0.4" "pytest>=8" "hypothesis>=6.100" \
    "kaldi-native-fbank==1.20.3" "kaldifst>=1.7" "graphviz>=0.20"
  for whl in "$WORK"/wheels/*.whl; do python -m zipfile -e "$whl" "$WORK/site"; done
fi

# 3. edgeasr._core for AArch64, against the arm64 Python's headers (its pyconfig.h is found through -I).
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$WORK/build" "${generator[@]}" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DEDGEASR_PYTHON=ON -DEDGEASR_NATIVE_TESTS=OFF -DPython_EXECUTABLE="$PY" \
  -DPython_INCLUDE_DIR="$ROOT/usr/include/python3.11" -DCMAKE_CXX_FLAGS="-I$ROOT/usr/include" \
  -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" >/dev/null
cmake --build "$WORK/build" --target _core -j "$(nproc)"
rm -rf "$WORK/pkg" && mkdir -p "$WORK/pkg"
cp -r python/edgeasr "$WORK/pkg/" && rm -f "$WORK"/pkg/edgeasr/_core*.so
cp "$WORK/build"/_core*.so "$WORK/pkg/edgeasr/"
export PYTHONPATH=$WORK/pkg:$WORK/site
"$PY" -c "import platform, edgeasr.kernels as k; print('AArch64 Python:', platform.machine(), 'kernels', k.isa())"

# 4. The same transcripts on both builds.
compare=$(cat <<'EOF'
import json, sys
from pathlib import Path
import numpy as np, soundfile as sf
from edgeasr import Recognizer
repo, fsdd_clips = Path(sys.argv[1]), int(sys.argv[2])
files = sorted((repo / "python/edgeasr/data").glob("*.wav")) + sorted((repo / "tests/data").glob("*.wav"))
fsdd = sorted((repo.parent / "shared/data/fsdd").glob("*.wav"))
files += fsdd[:: max(1, len(fsdd) // fsdd_clips)][:fsdd_clips] if fsdd_clips else []
rec = Recognizer()
digits = rec.grammar("zero one two three four five six seven eight nine oh".split())
out = []
for f in files:
    x, rate = sf.read(f, dtype="float32")
    for name, grammar in (("open", None), ("grammar", digits if "fsdd" in str(f) else None)):
        if name == "grammar" and grammar is None:
            continue
        r = rec.transcribe(x, rate, grammar=grammar).result()
        out.append({"file": f.name, "search": name, "text": r.text, "score": r.score})
print(json.dumps(out))
EOF
)
"$PY" -c "$compare" "$REPO" "$FSDD_CLIPS" > "$WORK/aarch64.json"
env -u PYTHONPATH -u QEMU_LD_PREFIX python -c "$compare" "$REPO" "$FSDD_CLIPS" > "$WORK/x86.json"
python - "$WORK/x86.json" "$WORK/aarch64.json" <<'EOF'
import json, sys
x86, arm = (json.load(open(p)) for p in sys.argv[1:3])
assert len(x86) == len(arm) > 0, (len(x86), len(arm))
texts = sum(a["text"] == b["text"] for a, b in zip(x86, arm))
worst = max(abs(a["score"] - b["score"]) for a, b in zip(x86, arm))
print(f"same transcript on x86 and AArch64: {texts} of {len(x86)} decodes; largest score difference {worst:.2e}")
for a, b in zip(x86, arm):
    if a["text"] != b["text"]:
        print(f"  {a['file']} ({a['search']}): x86 {a['text']!r}, AArch64 {b['text']!r}")
sys.exit(0 if texts == len(x86) and worst <= 1e-3 else 1)
EOF

# 5. The tests without torch (the completeness builder's test needs the training extra's text generator).
"$PY" -m pytest -q -p no:cacheprovider tests/test_audio.py tests/test_codec.py tests/test_codec_parts.py \
  tests/test_default_model.py tests/test_endpoint.py tests/test_features.py tests/test_kernels_api.py \
  tests/test_kernels_exact.py tests/test_lattice.py tests/test_lattice_formats.py tests/test_lattice_wire.py \
  tests/test_model_file.py --deselect tests/test_endpoint.py::test_completeness_builder_counts_train_requests
