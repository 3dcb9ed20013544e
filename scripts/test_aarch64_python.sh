#!/usr/bin/env bash
# The Python package on AArch64 (a Raspberry Pi 4/5, a phone-class board), checked on this x86 machine under
# qemu-user: builds the AArch64 wheel (scripts/build_wheel_aarch64.sh), installs it for Debian's arm64 CPython 3.11
# beside the package registry's aarch64 wheels of the dependencies, transcribes the bundled clip with it, and
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

# 1-3. The AArch64 wheel (and the arm64 CPython's sysroot it was built against), then the wheel installed as pip
#      installs it on an AArch64 machine, beside the registry's aarch64 wheels of the dependencies.
WORK_DIR=$WORK bash scripts/build_wheel_aarch64.sh "$WORK/dist"
export QEMU_LD_PREFIX=$ROOT   # where AArch64 programs find their loader and libraries, binfmt or not
PY=$ROOT/usr/bin/python3.11
if [ ! -d "$WORK/site/numpy" ]; then
  mkdir -p "$WORK/wheels" "$WORK/site"
  pip download -q --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
    --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux_2_28_aarch64 \
    -d "$WORK/wheels" "numpy>=1.24" "soundfile>=0.12" "safetensors>=0.4" "pytest>=8" "hypothesis>=6.100" \
    "kaldi-native-fbank==1.20.3" "kaldifst>=1.7" "graphviz>=0.20"
  for whl in "$WORK"/wheels/*.whl; do python -m zipfile -e "$whl" "$WORK/site"; done
fi
rm -rf "$WORK/pkg"
pip install -q --no-deps --only-binary=:all: --platform linux_aarch64 --python-version 3.11 --implementation cp \
  --abi cp311 --target "$WORK/pkg" "$WORK"/dist/edgeasr-*-linux_aarch64.whl
export PYTHONPATH=$WORK/pkg:$WORK/site
"$PY" -c "import platform, edgeasr.kernels as k; print('AArch64 Python:', platform.machine(), 'kernels', k.isa())"
# The main job, from the installed wheel: the bundled clip with the bundled model and LM.
heard=$("$PY" -c "import sys; from edgeasr.cli import main; sys.exit(main(sys.argv[1:]))" transcribe \
  "$WORK/pkg/edgeasr/data/example.wav")
echo "edgeasr transcribe example.wav on AArch64: $heard"
expected=$(cat python/edgeasr/data/example.txt)
[ "$heard" = "$expected" ] || { echo "expected: $expected"; exit 1; }

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
