"""The Debian TTS voices that speak the corpus, and which of them are held out for evaluation.

A voice is one engine (espeak-ng, flite, festival) with the arguments that select a speaker. Held-out voices speak
only the test split: they measure how the model does on speakers it never heard. A speaker is held out under every
engine that has it (CMU ARCTIC slt in flite and in festival's HTS voice, MBROLA en1 through espeak-ng and festival),
so no held-out speaker leaks into training through another engine. ``scripts/install_tts_deps.sh`` installs them all.
"""

from __future__ import annotations

import functools
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

ENGINES = ("espeak-ng", "flite", "festival")
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Voice:
    name: str              # unique, "<engine>:<voice>", used as the lhotse speaker
    engine: str            # one of ENGINES
    args: tuple[str, ...]  # engine arguments that select the voice (see edgeasr.train.synth for how they are used)
    held_out: bool         # True: test split only, never train or dev
    extended: bool = False  # True: only in corpora built with the extended set (v2 on), so v1 rebuilds as it was


def _espeak(voice: str, held_out: bool = False, extended: bool = False) -> Voice:
    return Voice(f"espeak-ng:{voice}", "espeak-ng", ("-v", voice), held_out, extended)


def _flite(voice: str, held_out: bool = False) -> Voice:
    return Voice(f"flite:{voice}", "flite", ("-voice", voice), held_out)


def _festival(voice: str, held_out: bool = False) -> Voice:
    return Voice(f"festival:{voice}", "festival", (f"(voice_{voice})",), held_out)


# Every voice edgeasr knows. espeak-ng's formant voices come in several accents and with variants (+f3 female,
# +m3 male, ...); its mb-* voices drive MBROLA diphone databases. The festival voices are diphone (LPC) and MBROLA.
REGISTRY: tuple[Voice, ...] = (
    _espeak("en-us"),
    _espeak("en-gb"),
    _espeak("en-gb-scotland"),
    _espeak("en-gb-x-rp"),
    _espeak("en-gb-x-gbclan"),
    _espeak("en-gb-x-gbcwmd"),
    _espeak("en-029"),
    _espeak("en-us-nyc"),
    _espeak("en-us+f3"),
    _espeak("en-us+m3"),
    _espeak("en-gb+f2"),
    _espeak("en-gb-x-rp+f4"),
    _espeak("en-029+m5"),
    _espeak("en-us+klatt"),
    _espeak("mb-us1"),
    _espeak("mb-us2"),
    _espeak("mb-us3"),
    _flite("kal"),
    _flite("awb"),
    _flite("rms"),
    _festival("kal_diphone"),
    _festival("ked_diphone"),
    _festival("don_diphone"),
    _festival("us1_mbrola"),
    _festival("us2_mbrola"),
    _festival("us3_mbrola"),
    # The extended training set (corpus v2 on): more timbres from espeak-ng's variants, and English spoken through
    # other languages' MBROLA diphone databases (accented English, as many users speak it).
    *(_espeak(f"{accent}+{variant}", extended=True) for accent, variant in (
        ("en-us", "f1"), ("en-us", "f4"), ("en-us", "f5"), ("en-us", "m1"), ("en-us", "m2"), ("en-us", "m4"),
        ("en-us", "m6"), ("en-us", "m7"), ("en-us", "klatt2"), ("en-us", "klatt3"), ("en-us", "klatt4"),
        ("en-us", "Alex"), ("en-us", "Andy"), ("en-us", "Annie"), ("en-us", "david"), ("en-us", "linda"),
        ("en-us", "steph"), ("en-us", "robert"), ("en-us", "quincy"), ("en-us", "grandma"), ("en-us", "grandpa"),
        ("en-us", "travis"), ("en-gb", "f1"), ("en-gb", "m2"), ("en-gb", "Annie"), ("en-gb-scotland", "f3"),
        ("en-gb-scotland", "m7"), ("en-gb-x-rp", "m4"), ("en-029", "f1"), ("en-us-nyc", "f5"), ("en-us-nyc", "m6"),
    )),
    *(_espeak(f"mb-{db}-en", extended=True) for db in (
        "de1", "de2", "de4", "fr1", "fr4", "nl2", "sw1", "af1", "hu1", "pl1", "ro1", "gr2")),
    # Held out: evaluation only.
    _flite("slt", held_out=True),
    _festival("cmu_us_slt_arctic_hts", held_out=True),
    _festival("rab_diphone", held_out=True),
    _espeak("mb-en1", held_out=True),
    _festival("en1_mbrola", held_out=True),
)

# Speakers that must never be heard in training, whatever the engine; a test checks every training voice against it.
HELD_OUT_SPEAKERS = ("slt", "rab", "en1")

_BY_NAME = {v.name: v for v in REGISTRY}
assert len(_BY_NAME) == len(REGISTRY), "voice names must be unique"


def voice(name: str) -> Voice:
    """The registered voice called ``name`` (e.g. ``"festival:kal_diphone"``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"name: unknown voice {name!r}; known: {sorted(_BY_NAME)}") from None


def _probe(v: Voice) -> str | None:
    """None if ``v`` renders a short phrase to a non-empty wav here, else why not."""
    from edgeasr.train.synth import synthesize  # synth imports this module

    try:
        x, _ = synthesize(v, "testing one two")
    except (RuntimeError, OSError) as e:
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if x.size == 0 or float(abs(x).max()) < 1e-3:
        return "rendered silence"
    return None


@functools.lru_cache(maxsize=None)
def _probe_all() -> tuple[tuple[Voice, ...], tuple[tuple[str, str], ...]]:
    missing = [e for e in ENGINES if shutil.which("text2wave" if e == "festival" else e) is None]
    candidates = [v for v in REGISTRY if v.engine not in missing]
    with ThreadPoolExecutor(max_workers=4) as pool:  # the work happens in subprocesses
        reasons = list(pool.map(_probe, candidates))
    ok = tuple(v for v, r in zip(candidates, reasons) if r is None)
    failed = tuple((v.name, r) for v, r in zip(candidates, reasons) if r is not None)
    failed += tuple((v.name, f"{v.engine} is not installed") for v in REGISTRY if v.engine in missing)
    return ok, failed


def available_voices() -> tuple[Voice, ...]:
    """The registered voices that work on this machine, found by rendering a short phrase with each (once per
    process, a few seconds). Voices that fail are left out with a warning naming them and the reason."""
    ok, failed = _probe_all()
    if failed:
        warnings.warn("TTS voices not working here (run scripts/install_tts_deps.sh): "
                      + "; ".join(f"{n}: {r}" for n, r in failed), RuntimeWarning, stacklevel=2)
    return ok


def voices_for(split: str, extended: bool = False) -> tuple[Voice, ...]:
    """Training voices for ``"train"`` and ``"dev"`` (with ``extended``, the extended set too), held-out voices for
    ``"test"``; only voices that work here.

    Raises RuntimeError if any held-out voice is missing (a test set without them would measure something else)
    or if no training voice works.
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    ok = available_voices()
    if split == "test":
        missing = [v.name for v in REGISTRY if v.held_out and v not in ok]
        if missing:
            raise RuntimeError(f"held-out voices missing: {missing}; run scripts/install_tts_deps.sh")
        chosen = tuple(v for v in ok if v.held_out)
    else:
        chosen = tuple(v for v in ok if not v.held_out and (extended or not v.extended))
        if not chosen:
            raise RuntimeError("no training voice works here; run scripts/install_tts_deps.sh")
    return chosen
