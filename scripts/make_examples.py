"""Renders the example clips bundled in python/edgeasr/data with a held-out voice, clean, 16 kHz.

The voice is the held-out one the bundled model does best on (festival en1_mbrola: 36.5 % WER against 51.3 % for
flite slt, the voice of the clips before; bench/results/evaluate-student-v5-onset-e1.json). No clip of a voice the
model trained on is bundled.

Usage: python scripts/make_examples.py [--voice flite:slt] [--out DIR]   (needs the train extra and
scripts/install_tts_deps.sh)
"""

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from edgeasr.train.synth import AugmentConfig, render
from edgeasr.train.voices import voices_for

CLIPS = {
    "example": "computer set a timer for ten minutes",
    "example_contact": "computer call siobhan oyelaran",
}


VOICE = "festival:en1_mbrola"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--voice", default=VOICE, help=f"a held-out (test split) voice (default {VOICE})")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "python" / "edgeasr" / "data")
    a = p.parse_args()
    held_out = {v.name: v for v in voices_for("test")}
    if a.voice not in held_out:
        p.error(f"--voice: expected one of the held-out voices {sorted(held_out)}, got {a.voice!r}")
    voice, out = held_out[a.voice], a.out
    out.mkdir(parents=True, exist_ok=True)
    for name, text in CLIPS.items():
        utt = render(text, voice, rng_seed=7, augment=AugmentConfig.none())
        pcm = (np.clip(utt.samples, -1.0, 1.0) * 32767).astype(np.int16)
        sf.write(out / f"{name}.wav", pcm, utt.sample_rate, subtype="PCM_16")
        (out / f"{name}.txt").write_text(text + "\n")
        print(f"{name}.wav: {len(pcm) / utt.sample_rate:.2f} s, speech ends at {utt.speech_end:.2f} s: {text}")


if __name__ == "__main__":
    main()
