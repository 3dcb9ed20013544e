#!/usr/bin/env bash
# Builds the synthesized corpus (dev, train, test; audio, lhotse manifests, features) into the edgeasr cache.
# Restartable: utterances already rendered are kept. Usage: nohup scripts/build_corpora.sh > LOG 2>&1 &
set -euo pipefail
NAME="${NAME:-v1}"
WORKERS="${WORKERS:-2}"
cd "$(dirname "$0")/.."
for spec in dev:400 train:12000 test:1200; do
  echo "== $(date -Is) $NAME ${spec%%:*} n=${spec##*:} workers=$WORKERS"
  nice -n 10 python -m edgeasr.train.corpus --name "$NAME" --split "${spec%%:*}" --n "${spec##*:}" --workers "$WORKERS"
done
echo "== $(date -Is) done"
