"""Fuzzes the native front end's settings: every combination below runs in its own process (a crash there cannot take
this one down) and must either raise ValueError at construction or turn noise fed in odd-sized chunks into finite
frames. Prints the combinations that crashed or gave non-finite frames; exits 1 if any did.

    python scripts/fuzz_frontend.py            # about 800 processes, a few minutes on 2 CPUs

For memory errors that do not crash, run a script that builds accepted settings under valgrind (PYTHONMALLOC=malloc,
the interpreter's real path rather than a pyenv shim).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

CHILD = """
import sys, numpy as np
from edgeasr import _core
rate, window, bins, snip = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "True"
length_ms = window * 1000.0 / rate
try:
    fbank = _core.StreamingFbank(rate, bins, length_ms, length_ms / 2, 0.0, snip)
except ValueError as e:
    print("refused", e)
    sys.exit(0)
x = (np.random.default_rng(window).standard_normal(max(3 * window, 1000)) * 0.1).astype(np.float32)
at = 0
for step in (1, 2, 3, 7, 15, 16, 17, 100):
    fbank.accept_waveform(x[at:at + step])
    at += step
fbank.accept_waveform(x[at:])
fbank.input_finished()
frames = fbank.take_frames(10 ** 9)
print("finite" if np.isfinite(frames).all() else "NON-FINITE", frames.shape)
"""

RATES = (100, 800, 1000, 3200, 8000, 16000, 44100, 96000, 384000)
WINDOWS = (1, 2, 3, 4, 15, 16, 17, 31, 32, 33, 64, 400)  # samples
BINS = (1, 2, 3, 23, 40, 80, 128, 256)


def run(combo) -> tuple:
    done = subprocess.run([sys.executable, "-c", CHILD, *map(str, combo)], capture_output=True, text=True,
                          timeout=300)
    return combo, done.returncode, done.stdout.strip(), done.stderr[-300:]


def main() -> int:
    combos = list(itertools.product(RATES, WINDOWS, BINS, (True, False)))
    bad = refused = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for combo, code, out, err in pool.map(run, combos):
            if code != 0 or out.startswith("NON-FINITE"):
                bad += 1
                print(f"rate {combo[0]}, window {combo[1]}, bins {combo[2]}, snip_edges {combo[3]}: exit {code} "
                      f"{out} {err}", flush=True)
            refused += out.startswith("refused")
    print(f"{len(combos)} combinations: {refused} refused with ValueError, {len(combos) - refused - bad} decoded to "
          f"finite frames, {bad} crashed or gave non-finite frames")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
