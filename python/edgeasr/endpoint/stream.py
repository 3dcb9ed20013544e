"""A recognizer stream with speculative and final end-pointing: audio in, utterance events out.

    stream = EndpointingStream(rec, context=["kitchen lights"], on_event=print)
    for chunk in microphone:                       # any chunk size; any sample rate (resampled like Stream)
        for event in stream.accept_waveform(chunk, rate):
            ...                                    # SpeculativeEndpoint, FinalEndpoint, Reset (edgeasr.endpoint.events)
    stream.input_finished()                        # closes the utterance in progress, if it has words

    for event in EndpointingStream(rec).events(chunks, rate): ...     # the same as an iterator

Per utterance (see :mod:`edgeasr.endpoint.events`): one ``SpeculativeEndpoint`` (the search's biasing is settled
first, so its lattice holds no pending bonus; decoding goes on), then one ``FinalEndpoint``: ``confirmed`` when
nothing the device can see says the speculative one was premature, otherwise it carries the revised lattice and a
``Reset`` follows. Premature means any of: the best path's words or their token times changed; a speech-like step
(as either end-pointer judges it) came after the speculative one fired, or a step loud enough for the presence test
(``EndpointConfig.presence_margin_db`` over the noise floor, a lower bar than the end-pointing margin: the quiet
tail of a last word); the lattice gained an arc ending after every arc of the speculative lattice with a posterior
of at least ``REVISE_ARC_POSTERIOR`` (a word hypothesized after the speculative end-point; ``revise_arc_posterior``
sets it, None leaves this test out; the figures on the dev split with each setting are in
bench/results/endpoint-feed40.tune.json, ``live``). If the final rule fires first, both events come at once
(confirmed). Then the stream goes on with the next utterance in the same audio: the search is
finalized and reset (biasing state settled, decoder context back to blanks) and the encoder starts afresh, while the
features, the resampler, the energy and the noise floor carry over, because the audio is continuous. Times are
seconds of stream audio; an event's ``time`` is the end of the audio fed when it fired.

``reset_encoder`` (default True) starts the encoder's LSTM state afresh at each final end-point (and when words from
noise are dropped): the models trained so far learned single requests, each from a fresh state, after a fraction of
a second of background. With it, ``idle_reset_s`` (default 2 s, ``IDLE_RESET_S``; None: off) also starts the encoder
afresh after that much background without a single speech step (no token, the blank sure, nothing loud), so a
request after a long wait meets a state that has heard at most that much of the room; no words are lost, as none
were heard. Both were chosen on dev sessions of requests in a row (bench/sessions.py: README, "End-pointing").
``reset_encoder=False`` carries the state over, for a model trained on runs of requests.

``grammar`` (phrases, or a grammar from ``Recognizer.grammar``): every utterance is one of its phrases or nothing,
for command and control; it starts afresh at each final end-point, like the search. Unless ``completeness`` is
given, the end-pointers then take it from the grammar (:class:`GrammarCompleteness`): a whole phrase that no longer
one continues is complete, a phrase cut short is not. Such a stream decodes without the recognizer's n-gram LM and
takes the end-pointers tuned without it, unless ``lm=True`` (``Recognizer.stream_uses_lm``).

Audio is fed to the recognizer in pieces of ``chunk_frames`` feature frames, one encoder step by default (40 ms with
the bundled model), whatever the recognizer's ``RecognizerConfig.chunk_frames``, and the end-pointers decide after
each, so a large ``accept_waveform`` call behaves like many small ones and no utterance runs into the next. The
default settings were tuned deciding every 40 ms (audio in pieces of 40 ms or less); deciding every 160 ms, as
``chunk_frames=16`` or audio in 160 ms pieces does, the end-points with the n-gram LM came a median 474 ms after the
end of speech on the held-out clips against 397 ms (bench/results/endpoint-lm.md, endpoint-lm-feed40.md). An
utterance's words do not depend on the chunk, only how soon each decision is made (the encoder then starts afresh
where the final end-point fell, so the next utterance's words may). Nothing said
gives no events: words without enough loud audio (``min_speech_s`` above the floor + ``presence_margin_db``,
:mod:`edgeasr.endpoint.config`) are dropped, and after ``max_utterance_s`` without words the search is quietly reset
so memory stays bounded. ``on_drop(time, result)``, when given, is told of each such drop (the stream time and the
words dropped), to see whether spoken words were lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

import numpy as np

from edgeasr.audio import check_sample_rate, to_mono_float32
from edgeasr.endpoint.completeness import CompletenessModel, GrammarCompleteness
from edgeasr.endpoint.config import EndpointConfig, search_defaults
from edgeasr.endpoint.endpointer import Decision, Endpointer
from edgeasr.endpoint.energy import NoiseFloor, StepEnergy
from edgeasr.endpoint.events import Event, FinalEndpoint, Reset, SpeculativeEndpoint
from edgeasr.grammar import Grammar

__all__ = ["EndpointingStream", "IDLE_RESET_S", "REVISE_ARC_POSTERIOR"]

REVISE_ARC_POSTERIOR = 0.05
IDLE_RESET_S: Optional[float] = 2.0  # chosen on dev: bench/results/sessions-idle-dev.md


@dataclass(frozen=True)
class _Speculative:
    words: tuple[str, ...]          # the best path's words ...
    timestamps: tuple[float, ...]   # ... and its token times
    step: int                       # steps decoded when it fired (utterance-relative)
    lattice_end: float              # the latest end of an arc of its lattice (s)


class EndpointingStream:
    """One stream of continuous audio, cut into utterances by a speculative and a final end-pointer."""

    def __init__(self, recognizer, context=None, speculative: Optional[EndpointConfig] = None,
                 final: Optional[EndpointConfig] = None, on_event: Optional[Callable[[Event], None]] = None,
                 completeness: Optional[CompletenessModel] = None, noise_floor_rise_db_per_s: float = 3.0,
                 reset_encoder: bool = True, revise_arc_posterior: Optional[float] = REVISE_ARC_POSTERIOR,
                 on_drop: Optional[Callable[[float, object], None]] = None, grammar=None,
                 chunk_frames: Optional[int] = None, idle_reset_s: Optional[float] = IDLE_RESET_S,
                 lm: Optional[bool] = None):
        for name, fn in (("on_event", on_event), ("on_drop", on_drop)):
            if fn is not None and not callable(fn):
                raise ValueError(f"{name}: expected a callable, got {type(fn).__name__}")
        self._on_drop = on_drop
        if revise_arc_posterior is not None and (isinstance(revise_arc_posterior, bool) or not isinstance(
                revise_arc_posterior, (int, float)) or not 0.0 <= revise_arc_posterior <= 1.0):
            raise ValueError(f"revise_arc_posterior: expected a probability in [0, 1] or None (off), "
                             f"got {revise_arc_posterior!r}")
        self._revise_arc_posterior = revise_arc_posterior
        step = recognizer.seconds_per_step
        self.recognizer = recognizer
        if grammar is not None and not isinstance(grammar, Grammar):
            grammar = recognizer.grammar(grammar)
        if grammar is not None and completeness is None:
            completeness = GrammarCompleteness(grammar)
        # Decide after every encoder step by default, as the end-pointers were tuned, whatever the recognizer's own
        # chunk (its default of 16 frames would decide every 160 ms); the words are the same either way.
        chunk_frames = recognizer.model.subsampling if chunk_frames is None else chunk_frames
        # A grammar holds for every utterance; with one, the stream decodes without the recognizer's LM unless lm=True.
        self.stream = recognizer.create_stream(context, grammar, chunk_frames, lm=lm)
        tuned_speculative, tuned_final = search_defaults(recognizer, grammar, lm)  # the settings tuned for its search
        self.speculative = Endpointer(speculative if speculative is not None else tuned_speculative, step,
                                      completeness)
        self.final = Endpointer(final if final is not None else tuned_final, step, self.speculative.completeness)
        self._on_event = on_event
        self._reset_encoder = bool(reset_encoder)
        if idle_reset_s is not None and (isinstance(idle_reset_s, bool) or not isinstance(idle_reset_s, (int, float))
                                         or not 0 < idle_reset_s < math.inf):
            raise ValueError(f"idle_reset_s: expected seconds > 0 or None (off), got {idle_reset_s!r}")
        # Steps of background after which the encoder starts afresh while nothing is said (with reset_encoder).
        self._idle_steps = None if idle_reset_s is None or not self._reset_encoder else max(
            1, int(round(idle_reset_s / step)))
        self._step = step
        self._chunk_s = chunk_frames * recognizer.model.frame_shift_ms / 1000.0
        self._energy = StepEnergy(step)
        self._floor = NoiseFloor(step, noise_floor_rise_db_per_s)
        self._energy_base = 0                  # stream step of _energies[0]
        self._energies: list[float] = []
        self._floors: list[float] = []
        self._rate: Optional[int] = None
        self._fed = 0                          # samples fed, at the input rate
        self._finished = False
        self._spec: Optional[_Speculative] = None                  # what the speculative end-point sent
        self._words: Optional[list[str]] = None                   # the best hypothesis's words, until it changes
        self.utterance = 0

    @property
    def time(self) -> float:
        """Seconds of audio fed so far."""
        return self._fed / self._rate if self._rate else 0.0

    # -- feeding -----------------------------------------------------------------------------------------------
    def accept_waveform(self, samples: np.ndarray, sample_rate: int) -> list[Event]:
        """Appends mono audio; returns the events it caused, in order (each also goes to ``on_event``)."""
        if self._finished:
            raise ValueError("samples: input_finished() was called on this stream; create a new stream")
        sample_rate = check_sample_rate(sample_rate)
        samples = to_mono_float32(samples, allow_empty=True)
        if self._rate is None:
            self._rate = sample_rate
        elif sample_rate != self._rate:
            raise ValueError(f"sample_rate: this stream's audio is at {self._rate} Hz, got {sample_rate}")
        piece = max(1, int(round(self._chunk_s * sample_rate)))
        events: list[Event] = []
        for i in range(0, samples.size, piece):
            part = samples[i:i + piece]
            self.stream.accept_waveform(part, sample_rate)
            energies = self._energy.accept(part, sample_rate)
            self._energies += energies.tolist()
            self._floors += self._floor.update(energies).tolist()
            self._fed += part.size
            if self._accept_steps():
                events += self._decide()
        return events

    def input_finished(self) -> list[Event]:
        """End of audio: decodes the rest and closes the utterance in progress (rule ``end_of_input``) when it has
        words. Returns its events."""
        if self._finished:
            return []
        self._finished = True
        self.stream.input_finished()
        self._accept_steps()
        self._words = None
        if self._spec is None and (not self.final.has_speech or not self._current_words()):
            return []
        d = Decision("end_of_input", self.final.steps, self.final.steps - self.final.trailing,
                     self.final.trailing * self._step, float("nan"))
        events = [] if self._spec is not None else [self._speculative_event(d)]
        return events + self._final_events(d, next_utterance=False)

    def events(self, chunks: Iterable[np.ndarray], sample_rate: int) -> Iterator[Event]:
        """The iterator form: feeds each chunk, yields the events as they happen, then finishes the input."""
        for chunk in chunks:
            yield from self.accept_waveform(chunk, sample_rate)
        yield from self.input_finished()

    # -- signals and decisions ---------------------------------------------------------------------------------
    def _accept_steps(self) -> bool:
        """Hands the steps the search decoded since the last call to both end-pointers; True when there were any."""
        done = self.final.steps
        total = self.stream.num_frames - self.stream.step_offset
        if total <= done:
            return False
        sig = self.stream.frame_signals()
        first = self.stream.step_offset + done - self._energy_base
        energies = self._energies[first:first + total - done]
        floors = self._floors[first:first + total - done]
        if len(energies) < total - done:  # the energy of a decoded step is always complete; guard all the same
            pad = total - done - len(energies)
            last = floors[-1] if floors else (self._floor.floor if self._floor.floor is not None else -100.0)
            energies, floors = energies + [last] * pad, floors + [last] * pad
        blank = sig["blank_logprob"][done:total]
        trailing = sig["trailing_blank_frames"][done:total]
        for ep in (self.speculative, self.final):
            ep.accept(blank, trailing, energies, floors)
        self._words = None
        return True

    def _current_words(self) -> list[str]:
        if self._words is None:
            self._words = [w.word for w in self.stream.result().words]
        return self._words

    def _decide(self) -> list[Event]:
        events: list[Event] = []
        if self._spec is None:
            d = self.speculative.decide(self._current_words)
            if d is not None and d.rule != "no_speech":
                events.append(self._speculative_event(d))
        d = self.final.decide(self._current_words)
        if d is not None and d.rule == "no_speech" and self._spec is None:
            if self._on_drop is not None:
                self._on_drop(self.time, self.stream.result())
            self._next_utterance(quiet=True)  # words from silence or noise: not an utterance
        elif d is not None:
            if self._spec is None:
                events.append(self._speculative_event(d))
            events += self._final_events(d)
        elif self.final.steps >= self.final.max_steps and not self._current_words():
            self._next_utterance(quiet=True)  # nothing said for a long time: bound the search's memory
        elif (self._idle_steps is not None and self.final.steps >= self._idle_steps and self._spec is None
              and self.final.first_speech is None and self.speculative.first_speech is None):
            # Not one speech step (no token, the blank sure, nothing loud) since the last reset: start the encoder
            # afresh, so that the next request begins after at most this much background, as in training.
            self._next_utterance(quiet=True)
        return events

    def _emit(self, event: Event) -> Event:
        if self._on_event is not None:
            self._on_event(event)
        return event

    def _speech_end(self, d: Decision) -> float:
        return (self.stream.step_offset + d.speech_end_step) * self._step

    def _speculative_event(self, d: Decision) -> Event:
        self.stream.settle()
        self._words = None
        result = self.stream.result()
        lattice = self.stream.lattice()
        self._spec = _Speculative(tuple(w.word for w in result.words), tuple(result.timestamps), self.final.steps,
                                  max((a.end for a in lattice.arcs), default=-1.0))
        return self._emit(SpeculativeEndpoint(self.utterance, self.time, self._speech_end(d), lattice, result,
                                              d.rule))

    def _final_events(self, d: Decision, next_utterance: bool = True) -> list[Event]:
        self.stream.finalize_utterance()
        result = self.stream.result()
        lattice = self.stream.lattice()
        confirmed = not self._premature(result, lattice)
        events = [self._emit(FinalEndpoint(self.utterance, self.time, self._speech_end(d), confirmed, lattice,
                                           result, d.rule))]
        if not confirmed:
            events.append(self._emit(Reset(self.utterance, self.time)))
        if next_utterance:
            self._next_utterance()
        return events

    def _premature(self, result, lattice) -> bool:
        """Whether the device can see that the speculative end-point came too early (the module docstring)."""
        spec = self._spec
        if tuple(w.word for w in result.words) != spec.words or tuple(result.timestamps) != spec.timestamps:
            return True
        if any(ep.last_speech is not None and ep.last_speech >= spec.step for ep in (self.speculative, self.final)):
            return True
        # Audio over the presence margin after it (lower than the end-pointing margin): perhaps a word's quiet tail.
        if self.final.last_present is not None and self.final.last_present >= spec.step:
            return True
        if self._revise_arc_posterior is None:
            return False
        return any(a.end > spec.lattice_end + 1e-9 and a.posterior >= self._revise_arc_posterior for a in lattice.arcs)

    def _next_utterance(self, quiet: bool = False) -> None:
        self.stream.next_utterance(reset_encoder=self._reset_encoder)
        for ep in (self.speculative, self.final):
            ep.reset()
        keep = self.stream.step_offset - self._energy_base
        del self._energies[:keep], self._floors[:keep]
        self._energy_base = self.stream.step_offset
        self._spec = None
        self._words = None
        if not quiet:
            self.utterance += 1
