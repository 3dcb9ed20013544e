#!/usr/bin/env bash
# Debian 12 packages that edgeasr.train.synth renders speech with: espeak-ng, flite, festival and its English voices,
# MBROLA and its English voices (contrib/non-free). Idempotent and non-interactive: installs only what is missing.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  espeak-ng                      # voices en-us, en-gb, ... and mb-us1..3, mb-en1 through MBROLA
  flite                          # voices kal, kal16, awb, rms, slt (built in)
  festival
  festvox-kallpc16k              # festival kal_diphone
  festvox-kdlpc16k               # festival ked_diphone (not kdlpc8k: it conflicts with kdlpc16k)
  festvox-rablpc16k              # festival rab_diphone (held out)
  festvox-don                    # festival don_diphone (contrib)
  festvox-us-slt-hts             # festival cmu_us_slt_arctic_hts (held out)
  mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1  # non-free
  mbrola-de1 mbrola-de2 mbrola-de4 mbrola-fr1 mbrola-fr4 mbrola-nl2 mbrola-sw1 mbrola-af1 mbrola-hu1 mbrola-pl1 \
    mbrola-ro1 mbrola-gr2      # accented English through espeak-ng's mb-*-en voices (training corpus v2)
  festvox-us1 festvox-us2 festvox-us3 festvox-en1     # festival us1..3_mbrola, en1_mbrola (held out)
  graphviz                       # dot: renders lattice pictures (edgeasr transcribe --lattice-png; tests)
)

# The MBROLA voices live in non-free and festvox-don in contrib: add both to every Components line that lacks them.
need_update=0
SOURCES=/etc/apt/sources.list.d/debian.sources
if [ -f "$SOURCES" ]; then
  for comp in contrib non-free; do
    if grep -Eq "^Components:" "$SOURCES" && grep -E "^Components:" "$SOURCES" | grep -Evq "(^|[[:space:]])$comp([[:space:]]|$)"; then
      # Append $comp to each Components line that does not list it yet.
      $SUDO sed -i -E "/^Components:/{/(^|[[:space:]])$comp([[:space:]]|$)/!s/[[:space:]]*$/ $comp/}" "$SOURCES"
      need_update=1
    fi
  done
elif [ -f /etc/apt/sources.list ] && grep -Eq "^deb .*debian" /etc/apt/sources.list; then
  # Older one-line format: "deb URI suite main" -> "... main contrib non-free".
  for comp in contrib non-free; do
    if grep -E "^deb .*debian" /etc/apt/sources.list | grep -Evq "[[:space:]]$comp([[:space:]]|$)"; then
      $SUDO sed -i -E "/^deb .*debian/{/[[:space:]]$comp([[:space:]]|$)/!s/[[:space:]]*$/ $comp/}" /etc/apt/sources.list
      need_update=1
    fi
  done
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install_tts_deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

# Update after changing the components, or when the package lists (stale or empty) do not know a missing package.
if [ "$need_update" -eq 0 ]; then
  for p in "${missing[@]}"; do
    if ! apt-cache policy "$p" 2>/dev/null | grep -Eq "Candidate: [^(]"; then need_update=1; break; fi
  done
fi
if [ "$need_update" -eq 1 ]; then
  $SUDO apt-get update
fi
echo "install_tts_deps: installing ${missing[*]}"
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
