#!/usr/bin/env bash
# Reruns the benchmarks that the README's "At a glance" table rests on, with the bundled model and the search's
# defaults as they are in the checkout: what bundling a new model (or changing a default) asks for before its
# figures can be quoted. Each step is the command its result file records; results land in bench/results.
#
# Usage: bash scripts/rerun_figures.sh [STEP...]   (default: prepare, then every figure step in the order below)
#        bash scripts/rerun_figures.sh --list      (the steps)
# Steps are independent and restartable: rerun one by name after a failure. `prepare` builds what a fresh machine
# lacks (the held-out corpora and the cloud LM; each is skipped when present) and can take over an hour, most of it
# the cloud LM (67 min on one thread); the figure steps take one to ten minutes each on 2 CPUs.
#
# Not here, because they are choices made on dev rather than figures: the search's settings per beam width
# (bench/search_tune.py, README "Recognizer") and the end-pointers' (bench/endpoint.py --tune, README
# "End-pointing"), which a new model is tuned with before these figures are taken; and the AArch64 check
# (bash scripts/test_aarch64_python.sh), which needs root and about 20 minutes. The front end's and the kernels' rows
# (bench/fbank_versions.py, bench/kernels.py) do not depend on the model. e2e_torch writes e2e-epyc, the file the
# README cites for the machine it names; on another machine, run its command with another --name.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${EDGEASR_CACHE:-$HOME/.cache/edgeasr}"
MODEL=python/edgeasr/data/default_model.safetensors
# The systems of the side-by-side runs: sherpa-onnx on the same weights, edgeasr with and without its LM and phrases.
LM_SYSTEMS=sherpa-int8-beam,sherpa-int8-beam-hotwords,edgeasr-int4-beam,edgeasr-int4-beam-context,edgeasr-int4-beam-lm,\
edgeasr-int4-beam-lm-context
ALL_INT4=sherpa-int8-greedy,sherpa-int8-beam,sherpa-int8-beam-hotwords,sherpa-fp32-beam,edgeasr-int4-greedy,\
edgeasr-int4-beam,edgeasr-int4-beam-context,edgeasr-int8-beam,edgeasr-fp32-beam

corpus() {  # NAME SPLIT N [ARGS...]: builds a corpus split unless its features are there
  local name=$1 split=$2 n=$3
  shift 3
  if [ ! -f "$CACHE/corpora/$name/$split/feats_index.json" ]; then
    python -m edgeasr.train.corpus --name "$name" --split "$split" --n "$n" --workers 2 "$@"
  fi
}

step_prepare() {
  corpus v1 test 1200
  corpus commands test 400 --phrases bench/data/commands.txt
  corpus sessions test 1000 --augment none
  if [ ! -f "$CACHE/cloud_lm_large/lm.pt" ]; then
    OMP_NUM_THREADS=1 python -m edgeasr.cloud.train_lm --config configs/cloud_lm_large.toml
  fi
}
step_e2e_defaults() {
  python bench/e2e.py --split test --limit 0 --beam 16 --peer-beam 4 --systems "$LM_SYSTEMS" --name e2e-test-defaults
}
step_e2e_names() {
  python bench/e2e.py --phrases 1000 --contacts-pool --beam 16 --peer-beam 4 --systems "$LM_SYSTEMS" \
    --name e2e-1000phrases-defaults
}
step_e2e_beam4() { python bench/e2e.py --split test --limit 0 --systems "$LM_SYSTEMS" --name e2e-test-lm; }
step_e2e_beam8() {
  # --lm-scale / --token-reward: beam 8's tuned LM settings (edgeasr.recognizer.LM_SEARCH_DEFAULTS_BY_BEAM)
  python bench/e2e.py --split test --limit 0 --beam 8 --lm-scale 0.1 --token-reward 0.9 \
    --systems sherpa-int8-beam,edgeasr-int4-beam,edgeasr-int4-beam-lm --name e2e-test-lm-beam8
}
step_e2e_greedy() { python bench/e2e.py --split test --limit 0 --systems "$ALL_INT4" --name e2e-test-all-int4; }
step_e2e_torch() { python bench/e2e.py --name e2e-epyc; }
step_threads() { python bench/threads.py --limit 0; }
step_chunk_latency() { python bench/chunk_latency.py; }
endpoint_runs() {  # OUT_PREFIX [ARGS...]: with and without the LM, at beam 16 (-beam16) and beam 4
  local prefix=$1 lm out
  shift
  for lm in "--lm" ""; do
    out="bench/results/$prefix${lm:+-lm}-feed40"
    # shellcheck disable=SC2086
    python bench/endpoint.py "$@" --model "$MODEL" $lm --feed-ms 40 --out "$out-beam16"
    # shellcheck disable=SC2086
    python bench/endpoint.py "$@" --model "$MODEL" $lm --feed-ms 40 --beam 4 --out "$out"
  done
}
step_endpoint() { endpoint_runs endpoint; }
step_endpoint_commands() {
  endpoint_runs endpoint-commands-grammar --corpus commands --grammar bench/data/commands.txt
}
step_sessions() { python bench/sessions.py --gap-s 8 --snr-db 15 --out bench/results/sessions-gap8-snr15; }
step_lattice_size() { python bench/lattice_size.py; }
step_rescore() {
  python bench/rescore.py --no-save-weights
  python bench/rescore.py --device-lm --out bench/results/rescore-device-lm
}
step_digits() { python bench/digits.py; }

FIGURES=(e2e_defaults e2e_names e2e_beam4 e2e_beam8 e2e_greedy e2e_torch threads chunk_latency endpoint
         endpoint_commands sessions lattice_size rescore digits)
if [ "${1:-}" = "--list" ]; then
  echo prepare "${FIGURES[@]}"
  exit 0
fi
STEPS=("$@")
if [ ${#STEPS[@]} -eq 0 ]; then STEPS=(prepare "${FIGURES[@]}"); fi
for step in "${STEPS[@]}"; do
  if ! declare -F "step_$step" >/dev/null; then
    echo "unknown step: $step (steps: prepare ${FIGURES[*]})" >&2
    exit 2
  fi
done
for step in "${STEPS[@]}"; do
  echo "== $(date -Is) $step"
  "step_$step"
done
echo "== $(date -Is) done"
