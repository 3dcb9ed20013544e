"""Settings of an end-pointer: one dataclass, with the defaults of the speculative and of the final end-pointer.

A step (one encoder step, ``Recognizer.seconds_per_step`` long: frame shift x subsampling from the model file) is
*speech* when the best hypothesis emits a token at it, or P(blank) at it is below ``blank_threshold``, or its audio
energy is more than ``energy_margin_db`` above the stream's noise floor and within ``dynamic_range_db`` of the
stream's recent peak (the loudest step, sinking 1 dB/s); otherwise it is *non-speech*. The end-pointer fires when
the hypothesis has words and

* the trailing run of non-speech steps lasts ``complete_timeout_s`` and the hypothesis looks complete
  (P(end of request | last words) >= ``complete_threshold``, :mod:`edgeasr.endpoint.completeness`), or
* it lasts ``incomplete_timeout_s`` whatever the words, or
* it lasts ``long_timeout_s`` whatever the words and the utterance's speech (its first speech step to the last one)
  lasted ``long_utterance_s`` or more: a pause inside a request comes before its end, so a silence after a long
  stretch of speech is more likely the end (on the dev split of corpus v1, the 110 silences of >= 160 ms that
  speech followed began a median 1.08 s after the first speech step, the ends 1.88 s: ``silences`` in
  bench/results/endpoint-v1dev.tune.json), and this rule does not depend on the words, which are often wrong on unseen
  voices, or
* ``max_utterance_s`` have passed since the utterance's first speech step.

With ``gap_factor`` > 0 the complete and long rules also wait for more than the utterance's own gaps: at least
``gap_factor`` times its longest stretch of non-speech between two speech steps so far, plus ``gap_margin_s``. A
voice whose words are separated by quiet stretches (closures, breaths, a model that emits nothing for a while) then
does not end on the first of them. Off by default: the tune's grid does not search it (it only ever waits longer);
the report's sweep shows what it trades on the held-out voices (bench/results/endpoint.md).

An utterance whose audio never rose ``presence_margin_db`` above the floor (within ``dynamic_range_db`` of the
recent peak) for ``min_speech_s`` in all is not one: its words came from silence or noise, and once
``incomplete_timeout_s`` of non-speech follows them (the longest wait: a drop cannot be undone) the final
end-pointer drops it (rule ``no_speech``: the search is
reset, no events). This presence test has its own margin, fixed and not tuned: it must tell noise from speech,
however softly spoken, not find where speech ends. Stationary noise's 40 ms band energies stay within 3.3 dB of the
tracked floor for white and pink noise and within 6.2 dB for brown noise (at most one step over 6 dB in 200 s; 20
synthetic 10 s signals of each colour from ``edgeasr.train.synth.colored_noise``), so 6 dB for 120 ms is speech.
Judged with a 9 dB ``energy_margin_db`` instead (the end-pointing margin the easier dev split chose), it dropped a
wake word said at about 11 dB SNR over white or pink noise whose louder syllables reached 9 dB over the floor for
only one or two steps before the pause after it (4 of the 1,200 held-out test clips lost "computer" so).

Defaults are tuned with ``bench/endpoint.py --tune --corpus v1hard`` on a development set as hard for the model as
unseen voices: the dev split's 1,200 requests rendered with the training voices under harsher conditions (``python
-m edgeasr.train.corpus --name v1hard --split dev --n 1200 --augment hard``, ``AugmentConfig.hard``: the bundled
model makes 33.0 % errors there at its search defaults, 34.1 % on the held-out voices, 16.0 % on corpus v1's dev
split). The final one: the lowest median latency at <= 1 % cut-offs on the clips with pauses up to 500 ms, missing
no more clips than the best setting does; the speculative one: the fewest premature end-points among those leading
the final one by >= 200 ms on median. The audio reaches the end-pointers in 40 ms pieces, as a microphone
delivers it and as ``EndpointingStream`` decides with ``RecognizerConfig(chunk_frames=4)`` (``bench/endpoint.py
--tune --corpus v1hard --feed-ms 40``, bench/results/endpoint-feed40.tune.json): the bundled model (the v2 refresh,
token reward 0.9) chose 0.48 s after words that look complete at P(end) >= 0.35, 0.8 s otherwise, 0.44 s after 3.0 s
of speech (544 ms median at 0.98 % cut-offs on v1hard dev). Tuned on 160 ms pieces, as until stop 23
(bench/results/endpoint.tune.json), it had chosen 0.4 / 0.96 s at threshold 0.5 (564 ms at 0.98 % there): decisions
every 160 ms fire a little after the timeout, so a shorter one cut off no more; in 40 ms pieces 0.4 s cuts off
1.08 % of v1hard dev (11 clips against 10). At the earlier search settings (token reward 0.8) threshold 0.7 (``git
show 78dec55:bench/results/endpoint.tune.json``). For the lead-extension model before it no setting of the
earlier grid reached 1 % (the least: 1.2 %, at its longest timeouts), so the grid gained 0.48 and 0.56 s complete
and 0.96 s incomplete timeouts, and it chose 0.48 / 0.96 s, threshold 0.35, 0.36 s after 2.5 s (``git show
9672b43:bench/results/endpoint.tune.json``); the int4 student before that chose 0.4 / 0.8 s, threshold 0.7, 0.44 s
after 3.0 s, blank threshold 0.95 (``git show 89c6ab2:bench/results/endpoint.tune.json``).
Until then they were tuned on v1's dev split (bench/results/endpoint-v1dev.tune.json), where the model errs half as
often and looks complete where it is right: its <= 1 % settings (0.16 s complete, 0.72 s incomplete, 9 dB) cut off
3.5 % of the held-out utterances. Each retune on that easier split, from run v3's epoch 3 to the int4 QAT student,
moved the speculative settings and long_utterance_s a little and kept the final timeouts. Retune for another model.
The held-out test split is only measured. Timeouts are compared in whole steps (rounded up).

A recognizer with an n-gram LM has its own tune (``bench/endpoint.py --tune --corpus v1hard --lm --feed-ms 40``,
bench/results/endpoint-lm-feed40.tune.json, the same grid and rule). With the LM's words fewer clips were cut off at
each setting, and the tune chose 0.32 s after words that look complete at P(end) >= 0.5, 0.96 s otherwise (419 ms
median at 0.98 % cut-offs on v1hard dev; the same as in 160 ms pieces, bench/results/endpoint-lm.tune.json, 484 ms
there). ``EndpointingStream`` takes those defaults when its recognizer has an LM (``final_defaults(lm=True)``), as
``Recognizer()`` with the bundled model does by default; bench/results/endpoint-lm-feed40.md measures them on the
held-out voices.

Since the recognizer's default beam became 16 (stop 27), each search has its own tune: ``bench/endpoint.py --tune
--corpus v1hard --feed-ms 40 [--lm] --beam 16`` (bench/results/endpoint[-lm]-feed40-beam16.tune.json). With the LM
the wider beam's hypotheses look complete sooner inside pauses, and the rule chose 0.4 s after complete words,
0.36 s after 2.5 s of speech, 0.96 s otherwise (450 ms median at 0.98 % cut-offs on v1hard dev, against 419 ms at
beam 4); without the LM 0.32 s at P(end) >= 0.7 with blank threshold 0.95, 0.96 s otherwise (441 ms, against 544 ms
at beam 4). ``final_defaults(lm, beam)`` and ``speculative_defaults(lm, beam)`` return the settings of the search
they are given (``EndpointingStream`` asks with its recognizer's); bench/results/endpoint[-lm]-feed40-beam16.md
measure them on the held-out voices.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from edgeasr.recognizer import DEFAULT_BEAM, tuned_width

__all__ = ["EndpointConfig", "speculative_defaults", "final_defaults", "search_defaults"]


@dataclass
class EndpointConfig:
    complete_timeout_s: float = 0.48    # trailing non-speech enough when the words look like a whole request
    incomplete_timeout_s: float = 0.8   # trailing non-speech enough in any case
    complete_threshold: float = 0.35    # P(end | last four words) from which the words look complete
    long_utterance_s: float = 3.0       # speech this long (first to last speech step) makes ...
    long_timeout_s: float = 0.44        # ... this much trailing non-speech enough whatever the words (it matters
                                        # only below incomplete_timeout_s)
    max_utterance_s: float = 15.0       # fire anyway this long after the utterance's first speech step
    energy_margin_db: float = 6.0       # a step this much louder than the noise floor is speech ...
    dynamic_range_db: float = 30.0      # ... unless it is this much below the stream's recent peak (clean
                                        # audio over digital silence, reverberation tails)
    blank_threshold: float = 0.8        # a step whose P(blank) is below this is speech
    min_speech_s: float = 0.12          # audio louder than floor + presence_margin_db an utterance needs; words
                                        # without it (hallucinated from silence or steady noise) are dropped
    presence_margin_db: float = 6.0     # fixed, not tuned (module docstring): above stationary noise's swings
    gap_factor: float = 0.0             # complete and long rules wait > this x the longest gap so far (0: off) ...
    gap_margin_s: float = 0.08          # ... plus this

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{f.name}: expected a finite number, got {value!r}")
        for name in ("complete_timeout_s", "incomplete_timeout_s", "long_utterance_s", "long_timeout_s",
                     "max_utterance_s", "energy_margin_db", "dynamic_range_db", "presence_margin_db"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: expected > 0, got {getattr(self, name)!r}")
        for name in ("min_speech_s", "gap_factor", "gap_margin_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected >= 0, got {getattr(self, name)!r}")
        for name in ("complete_threshold", "blank_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: expected a probability in [0, 1], got {getattr(self, name)!r}")
        if self.complete_timeout_s > self.incomplete_timeout_s:
            raise ValueError(f"complete_timeout_s ({self.complete_timeout_s}) must not exceed incomplete_timeout_s "
                             f"({self.incomplete_timeout_s})")
        if self.max_utterance_s < self.incomplete_timeout_s:
            raise ValueError(f"max_utterance_s ({self.max_utterance_s}) must be at least incomplete_timeout_s "
                             f"({self.incomplete_timeout_s})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Tuned per search: (n-gram LM fused, beam width) -> (speculative, final) settings that differ from EndpointConfig's
# defaults, each from ``bench/endpoint.py --tune --corpus v1hard --feed-ms 40 [--lm] [--beam B]`` (the same grid and
# rule, the module docstring). A wider beam with the LM looks complete sooner inside pauses, so its final end-pointer
# waits longer after complete words (dev: 450 ms at 0.98 % cut-offs, against 419 ms at beam 4); without the LM the
# wider beam's words end-point sooner (441 against 544 ms). Every tune chose the same speculative timeouts.
_SPECULATIVE = {"complete_timeout_s": 0.12, "incomplete_timeout_s": 0.4, "complete_threshold": 0.5,
                "long_timeout_s": 0.24}
_TUNED = {
    (False, 4): (_SPECULATIVE, {}),                                      # bench/results/endpoint-feed40.tune.json
    (True, 4): (_SPECULATIVE,                                            # endpoint-lm-feed40.tune.json
                {"complete_timeout_s": 0.32, "incomplete_timeout_s": 0.96, "complete_threshold": 0.5}),
    (False, 16): ({**_SPECULATIVE, "blank_threshold": 0.95},            # endpoint-feed40-beam16.tune.json
                  {"complete_timeout_s": 0.32, "incomplete_timeout_s": 0.96, "complete_threshold": 0.7,
                   "blank_threshold": 0.95}),
    (True, 16): ({**_SPECULATIVE, "long_utterance_s": 2.5},             # endpoint-lm-feed40-beam16.tune.json
                 {"complete_timeout_s": 0.4, "incomplete_timeout_s": 0.96, "complete_threshold": 0.5,
                  "long_utterance_s": 2.5, "long_timeout_s": 0.36}),
}


def _tuned(lm: bool, beam: int | None) -> tuple[dict, dict]:
    """The (speculative, final) settings for a search with or without an LM, of width ``beam`` (None: the
    recognizer's default width)."""
    beam = DEFAULT_BEAM if beam is None else beam
    if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
        raise ValueError(f"beam: expected an int >= 1, got {beam!r}")
    return _TUNED[(bool(lm), tuned_width(beam, {w for _, w in _TUNED}))]


def search_defaults(recognizer, grammar=None, lm: bool | None = None) -> tuple[EndpointConfig, EndpointConfig]:
    """The (speculative, final) end-pointers tuned for the search of ``recognizer.create_stream(grammar=grammar,
    lm=lm)``: with or without the n-gram LM (``Recognizer.stream_uses_lm``: a stream with a grammar decodes without
    it unless ``lm=True``), at the recognizer's beam width (greedy search counts as width 1, which takes the narrowest
    tuned width's)."""
    width, uses_lm = recognizer.config.width, recognizer.stream_uses_lm(grammar, lm)
    return speculative_defaults(uses_lm, width), final_defaults(uses_lm, width)


def final_defaults(lm: bool = False, beam: int | None = None) -> EndpointConfig:
    """The final (careful) end-pointer: confirms or revises the utterance. Tuned for the search it follows: ``lm``,
    a recognizer with an n-gram LM (the bundled model's default, or ``Recognizer(lm=...)``), and ``beam``, its beam
    width (None: the recognizer's default, 16; a width between two tuned ones takes the narrower one's settings).
    With the LM at beam 16: 0.4 s after words that look complete at P(end) >= 0.5, 0.36 s after 2.5 s of speech,
    0.96 s otherwise (bench/results/endpoint-lm-feed40-beam16.tune.json); at beam 4 0.32 s, 0.44 s after 3 s, 0.96 s
    (endpoint-lm-feed40.tune.json)."""
    return EndpointConfig(**_tuned(lm, beam)[1])


def speculative_defaults(lm: bool = False, beam: int | None = None) -> EndpointConfig:
    """The speculative (early) end-pointer: at least 200 ms ahead of the final one on median (dev); when it is
    premature the final end-pointer sends a revised lattice and a reset. ``lm`` and ``beam`` as for
    :func:`final_defaults`: every tune chose 0.12 s after complete words and 0.4 s otherwise."""
    return EndpointConfig(**_tuned(lm, beam)[0])
