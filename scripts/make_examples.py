"""Renders the example clips bundled in python/edgeasr/data with a held-out voice (flite slt), clean, 16 kHz.

Usage: python scripts/make_examples.py   (needs the train extra and scripts/install_tts_deps.sh)
"""

from pathlib import Path

import numpy as np
import soundfile as sf

from edgeasr.train.synth import AugmentConfig, render
from edgeasr.train.voices import voices_for

CLIPS = {
    "example": "computer set a timer for ten minutes",
    "example_contact": "computer call siobhan oyelaran",
}


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "python" / "edgeasr" / "data"
    voice = next(v for v in voices_for("test") if v.name == "flite:slt")
    for name, text in CLIPS.items():
        utt = render(text, voice, rng_seed=7, augment=AugmentConfig.none())
        pcm = (np.clip(utt.samples, -1.0, 1.0) * 32767).astype(np.int16)
        sf.write(out / f"{name}.wav", pcm, utt.sample_rate, subtype="PCM_16")
        (out / f"{name}.txt").write_text(text + "\n")
        print(f"{name}.wav: {len(pcm) / utt.sample_rate:.2f} s, speech ends at {utt.speech_end:.2f} s: {text}")


if __name__ == "__main__":
    main()
