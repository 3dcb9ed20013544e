#!/usr/bin/env bash
# Trains (or resumes) a run in the background: waits until the corpus it needs is built, then runs
# `edgeasr train`, restarting from the latest checkpoint each time it is started again.
# Usage: scripts/train.sh configs/student.toml   (log: ~/.cache/edgeasr/logs/train-<config>.log)
set -euo pipefail
CONFIG="$1"
cd "$(dirname "$0")/.."
CACHE="${EDGEASR_CACHE:-$HOME/.cache/edgeasr}"
LOG="$CACHE/logs/train-$(basename "$CONFIG" .toml).log"
mkdir -p "$CACHE/logs"
# corpus/split pairs the run reads: data.corpus's train and dev, and the train split of each data.extra_train
NEEDS=$(python -c "from edgeasr.train.config import load_config as l; d = l('$CONFIG').data
print(' '.join([f'{d.corpus}/{d.train_split}', f'{d.corpus}/{d.dev_split}'] + [f'{e}/{d.train_split}' for e in d.extra_train]))")
for need in $NEEDS; do
  if [ ! -f "$CACHE/corpora/$need/feats_index.json" ]; then
    # Say what it waits for: on a fresh machine nothing is built, and a silent wait looks like a hang.
    echo "waiting for corpus $need: python -m edgeasr.train.corpus --name ${need%%/*} --split ${need##*/} --n N" \
         "builds it (README, \"Training\", gives N)"
  fi
  until [ -f "$CACHE/corpora/$need/feats_index.json" ]; do sleep 30; done
done
# OMP_NUM_THREADS (default 2 here): torch threads spin at barriers, so on a machine shared with other work a
# single thread can beat two by a wide margin.
OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" nohup python -m edgeasr.train.train --config "$CONFIG" >> "$LOG" 2>&1 &
echo "training in the background (pid $!); log: $LOG"
