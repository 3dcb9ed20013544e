"""The decision of one end-pointer on per-step signals (see :mod:`edgeasr.endpoint.config` for the rules).

Pure logic, no recognizer: feed it the signals of each new encoder step with :meth:`Endpointer.accept`, then ask
:meth:`Endpointer.decide` with the current words. :class:`edgeasr.endpoint.stream.EndpointingStream` runs two of
them (speculative and final) on a live stream; ``bench/endpoint.py`` replays recorded signals through the same class
to sweep settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np

from edgeasr.endpoint.completeness import CompletenessModel, default_completeness
from edgeasr.endpoint.config import EndpointConfig

__all__ = ["Decision", "Endpointer"]

Words = Union[Sequence[str], Callable[[], Sequence[str]]]
# The peak that ``dynamic_range_db`` is measured from follows the loudest audio of the stream and sinks by this much
# per second, so a loud moment long ago does not silence a quieter speaker now.
PEAK_DECAY_DB_PER_S = 1.0


@dataclass(frozen=True)
class Decision:
    rule: str                # "complete", "incomplete", "long", "max_utterance", "no_speech" (drop), "end_of_input"
    step: int                # steps accepted when it fired (utterance-relative)
    speech_end_step: int     # first step of the trailing non-speech run: where speech ended
    trailing_s: float        # length of that run in seconds
    p_end: float             # completeness of the words it fired on


def gap_wait_steps(config: EndpointConfig, longest_gap, seconds_per_step: float):
    """Steps of trailing non-speech that ``config.gap_factor`` asks of the complete and long rules after a longest
    gap of ``longest_gap`` steps (an int, or a numpy array of them for replays); 0 when the option is off."""
    if config.gap_factor <= 0:
        return 0
    return (np.ceil(config.gap_factor * np.asarray(longest_gap) - 1e-9).astype(np.int64)
            + math.ceil(config.gap_margin_s / seconds_per_step - 1e-6))


class Endpointer:
    """One end-pointer over one utterance at a time; :meth:`reset` starts the next."""

    def __init__(self, config: EndpointConfig, seconds_per_step: float,
                 completeness: Optional[CompletenessModel] = None):
        if not isinstance(config, EndpointConfig):
            raise ValueError(f"config: expected an EndpointConfig, got {type(config).__name__}")
        config.validate()
        if not isinstance(seconds_per_step, (int, float)) or not seconds_per_step > 0:
            raise ValueError(f"seconds_per_step: expected > 0 (from the model file), got {seconds_per_step!r}")
        self.config = config
        self.seconds_per_step = float(seconds_per_step)
        self.completeness = completeness if completeness is not None else default_completeness()
        self._complete_steps = self._steps(config.complete_timeout_s)
        self._incomplete_steps = self._steps(config.incomplete_timeout_s)
        self._long_timeout_steps = self._steps(config.long_timeout_s)
        self._long_speech_steps = self._steps(config.long_utterance_s)
        self.max_steps = self._steps(config.max_utterance_s)
        self._min_speech_steps = math.ceil(config.min_speech_s / self.seconds_per_step - 1e-6)
        self._log_blank_threshold = math.log(config.blank_threshold) if config.blank_threshold > 0 else -math.inf
        self._peak_decay = PEAK_DECAY_DB_PER_S * self.seconds_per_step
        self.peak_db = -math.inf        # the stream's loudest step lately (kept across utterances, decaying)
        self.reset()

    def _steps(self, seconds: float) -> int:
        return max(1, math.ceil(seconds / self.seconds_per_step - 1e-6))

    def reset(self) -> None:
        self.steps = 0                  # steps accepted in this utterance
        self.trailing = 0               # trailing non-speech steps
        self.first_speech: Optional[int] = None
        self.last_speech: Optional[int] = None
        self.last_present: Optional[int] = None  # the last step loud enough for the presence test (is_present)
        self.present_steps = 0          # steps loud enough to be speech, not noise (see is_present)
        self.longest_gap = 0            # the longest run of non-speech steps between two speech steps so far

    @property
    def has_speech(self) -> bool:
        """The utterance had ``min_speech_s`` of audio louder than floor + ``presence_margin_db``."""
        return self.present_steps >= self._min_speech_steps

    def _above(self, energy_db: float, floor_db: float, margin_db: float) -> bool:
        return energy_db > floor_db + margin_db and energy_db > self.peak_db - self.config.dynamic_range_db

    def is_loud(self, energy_db: float, floor_db: float) -> bool:
        """Above the noise floor by the margin, and within the dynamic range of the recent peak (peak_db)."""
        return self._above(energy_db, floor_db, self.config.energy_margin_db)

    def is_present(self, energy_db: float, floor_db: float) -> bool:
        """Evidence that someone spoke, for the ``no_speech`` rule: above the floor by the fixed presence margin
        (not the end-pointing margin, see :mod:`edgeasr.endpoint.config`), within the dynamic range of the peak."""
        return self._above(energy_db, floor_db, self.config.presence_margin_db)

    @property
    def gap_wait_steps(self) -> int:
        """The trailing non-speech the complete and long rules need at least, from the utterance's gaps."""
        return int(gap_wait_steps(self.config, self.longest_gap, self.seconds_per_step))

    def is_speech(self, blank_logprob: float, trailing_blank: int, loud: bool) -> bool:
        return trailing_blank == 0 or blank_logprob < self._log_blank_threshold or loud

    def accept(self, blank_logprob: Sequence[float], trailing_blank: Sequence[int], energy_db: Sequence[float],
               floor_db: Sequence[float]) -> None:
        """Signals of the next steps, in order, all four of the same length."""
        n = len(blank_logprob)
        if not len(trailing_blank) == len(energy_db) == len(floor_db) == n:
            raise ValueError(f"signals: expected equal lengths, got {n}, {len(trailing_blank)}, {len(energy_db)}, "
                             f"{len(floor_db)}")
        for b, t, e, f in zip(np.asarray(blank_logprob, np.float64), trailing_blank, energy_db, floor_db):
            self.peak_db = max(self.peak_db - self._peak_decay, float(e))
            loud = self.is_loud(float(e), float(f))
            present = self.is_present(float(e), float(f))
            self.present_steps += present
            if present:
                self.last_present = self.steps
            if self.is_speech(float(b), int(t), loud):
                if self.first_speech is not None:
                    self.longest_gap = max(self.longest_gap, self.trailing)
                self.trailing = 0
                self.last_speech = self.steps
                if self.first_speech is None:
                    self.first_speech = self.steps
            else:
                self.trailing += 1
            self.steps += 1

    def decide(self, words: Words) -> Optional[Decision]:
        """Whether to fire now. ``words``: the best hypothesis's words, or a function giving them (called only when
        a rule could fire, since building a result costs more than the rules)."""
        max_reached = self.first_speech is not None and self.steps - self.first_speech >= self.max_steps
        gap_wait = self.gap_wait_steps
        long_done = (self.last_speech is not None and self.trailing >= max(self._long_timeout_steps, gap_wait)
                     and self.last_speech - self.first_speech + 1 >= self._long_speech_steps)
        complete_steps = max(self._complete_steps, gap_wait)
        if not max_reached and not long_done and self.trailing < min(complete_steps, self._incomplete_steps):
            return None
        w = list(words() if callable(words) else words)
        if not w:
            return None
        p = self.completeness.p_end(w)
        if not self.has_speech:
            # Dropping words loses them for good: wait as long as any end-point could (a quiet word before a pause
            # gains its presence from the speech after it).
            if not max_reached and self.trailing < self._incomplete_steps:
                return None
            rule = "no_speech"
        elif max_reached:
            rule = "max_utterance"
        elif self.trailing >= self._incomplete_steps:
            rule = "incomplete" if p < self.config.complete_threshold else "complete"
        elif p >= self.config.complete_threshold and self.trailing >= complete_steps:
            rule = "complete"
        elif long_done:
            rule = "long"
        else:
            return None
        return Decision(rule, self.steps, self.steps - self.trailing, self.trailing * self.seconds_per_step, p)
