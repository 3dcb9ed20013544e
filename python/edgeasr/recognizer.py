"""Streaming recognition in the shape sherpa-onnx users know: one shared :class:`Recognizer`, one :class:`Stream`
per utterance (or per microphone).

    rec = Recognizer()                                   # the bundled default model, with its bundled n-gram LM
    stream = rec.create_stream(context=["siobhan oyelaran", "kitchen lights"])
    stream.accept_waveform(samples, sample_rate)         # any number of times; decodes what is ready
    stream.input_finished()                              # end of audio: decode the rest, settle the biasing
    stream.result().text, stream.nbest(4), stream.lattice()

The recognizer holds the model (native network, token table, feature settings) and is immutable, so any number of
streams may decode at once on different threads: native work (encoder, search) runs without the GIL. A stream
belongs to one thread at a time.

Audio: mono, float32 in [-1, 1] (int16/int32/float64 are converted); another sample rate than the model's is
resampled on the fly with :class:`edgeasr.audio.StreamingResampler` (windowed sinc, the same result as resampling
the whole clip). NaN, empty, stereo or other dtypes raise ValueError.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np

from edgeasr import _core
from edgeasr.audio import StreamingResampler, check_sample_rate, to_mono_float32
from edgeasr.features import StreamingFbank
from edgeasr.grammar import Grammar
from edgeasr.kernels import QuantizedMatrix
from edgeasr.lattice import Arc, Lattice, Node
from edgeasr.model_file import ModelFile, load_model
from edgeasr.ngram_lm import NgramLm, load_lm

__all__ = ["RecognizerConfig", "SEARCH_DEFAULTS", "LM_SEARCH_DEFAULTS", "LM_SEARCH_DEFAULTS_BY_BEAM",
           "CONTEXT_SCORE_BY_BEAM", "DEFAULT_BEAM", "lm_search_defaults", "tuned_width", "context_score_default",
           "Recognizer", "Stream", "Result", "Word", "Hypothesis", "default_model_path", "default_lm_path", "auto_lm"]

SEARCHES = ("modified_beam_search", "greedy_search")
SPARSE_WEIGHTS = ("dense", "sparse")
Phrase = Union[str, tuple[str, float]]


def default_model_path() -> Path:
    """The model shipped in the package (the compressed student, int4)."""
    return Path(str(importlib.resources.files("edgeasr") / "data" / "default_model.safetensors"))


def default_lm_path() -> Path:
    """The token 4-gram LM shipped in the package, over the default model's tokens (edgeasr.train.ngram)."""
    return Path(str(importlib.resources.files("edgeasr") / "data" / "default_lm.safetensors"))


def auto_lm(model: Union[str, os.PathLike, ModelFile, None], decoding: str) -> Optional[Path]:
    """The LM that ``Recognizer(lm="auto")``, the default, fuses: the bundled LM when the model is the bundled one
    (``model=None``) and the search is beam search, none otherwise. The bundled model ships with its LM because the
    pair is better on dev than the model alone (WER 31.9 against 33.0 % on v1hard dev, end-point 419 against 544 ms:
    bench/results/search_tune-lm-end-beam4.md, endpoint[-lm]-feed40.tune.json) at no cost in speed; another model
    gets an LM only when given one, as it is made for one token table."""
    return default_lm_path() if model is None and decoding == "modified_beam_search" else None


# Chosen on the dev splits with every clip cut where its speech ends (python bench/tail_padding.py): the shortest
# padding whose WER is within 0.1 points of the best padding's on both v1 and v1hard dev, with the bundled model
# (0.2 s with the model bundled before it).
TAIL_PADDING_S = 0.1
LEAD_PADDING_S = 0.0

# The default width: the lowest WER on v1hard dev among the tuned widths (4, 8, 16) with the bundled LM, among those
# whose CPU time stays below sherpa-onnx's modified beam search with 4 paths on the same clips and model
# (bench/results/e2e-v1hard-dev-beam16-lm.md). Beam 32, untuned, also stays below it since the search got faster,
# for 0.2 points of dev WER at 1.6 times beam 16's CPU time (e2e-v1hard-dev-beam32-lm.md); not a tuned width.
DEFAULT_BEAM = 16


@dataclass
class RecognizerConfig:
    decoding: str = "modified_beam_search"  # or "greedy_search" (one symbol per frame)
    beam: int = DEFAULT_BEAM       # live hypotheses in modified beam search (see DEFAULT_BEAM)
    chunk_frames: int = 16         # feature frames (10 ms) per encoder call; a multiple of the model's subsampling
    context_score: Optional[float] = None  # biasing bonus per matched token (log-prob units) for a phrase of
                                   # weight 1. None: the default for the search's width (context_score_default:
                                   # 1.0 at beam 16, 0.5 at beam 4 and in greedy search)
    blank_penalty: Optional[float] = None  # lowers the blank's logit before the softmax (sherpa-onnx's meaning):
                                   # > 0 favours emitting. None: the search's default (SEARCH_DEFAULTS)
    lattice_beam: float = 8.0      # lattice arcs kept within this score of the best path
    token_reward: Optional[float] = None  # beam search only: added to the score of each token emitted, counted in
                                   # the acoustic score (the lattice's best path stays the 1-best). None: the
                                   # search's default. Unlike the blank penalty, which only sways each frame's
                                   # choice, it also favours the longer of two finished hypotheses
    lm_scale: Optional[float] = None  # beam search with an n-gram LM (Recognizer's lm): each token's score gains
                                   # lm_scale * ln P_lm(token | history) (shallow fusion). None: the search's
                                   # default, with an LM lm_search_defaults(beam) (which also set the token reward)
    lm_end_of_sentence: bool = True  # with an LM: the finished utterance's hypotheses also score
                                   # lm_scale * ln P_lm(</s> | their last tokens), so one that stops mid-request pays
    ilm_scale: Optional[float] = None  # with an LM: each token's score also loses ilm_scale * ln P_ilm(token |
                                   # context), the model's internal LM (its joiner without the encoder), whose prior
                                   # the n-gram LM replaces. None: the search's default (0)
    lead_padding_s: float = LEAD_PADDING_S  # every stream starts from the encoder state that this much silence
                                   # (zeros) leaves, as if it had preceded the audio, for clips cut at the speech
                                   # onset (training utterances all start with silence or noise). Free at run time
                                   # (computed once per recognizer); times unchanged. 0 by the dev rule; it costs
                                   # clips that start with noise (bench/results/onset-lead-padding.md)
    tail_padding_s: float = TAIL_PADDING_S  # silence (zeros) that input_finished() feeds after the audio: a
                                   # transducer emits a token some frames after it hears it, so audio that stops
                                   # right where speech stops would lose its last word (bench/tail_padding.py)
    sparse_weights: str = "dense"  # a sparse model file's matrices in memory: "dense" decodes them on load into
                                   # the dense format of the same bits (exactly the same products; faster with
                                   # every kernel set measured here, bench/results/sparse_load.md), "sparse" keeps
                                   # them compressed and runs the kernels that skip zeros (less memory)

    def validate(self, subsampling: int = 1) -> None:
        """Raise ValueError naming the first bad field."""
        if self.decoding not in SEARCHES:
            raise ValueError(f"decoding: expected one of {SEARCHES}, got {self.decoding!r}")
        if isinstance(self.beam, bool) or not isinstance(self.beam, int) or not 1 <= self.beam <= 256:
            raise ValueError(f"beam: expected an int in [1, 256], got {self.beam!r}")
        if (isinstance(self.chunk_frames, bool) or not isinstance(self.chunk_frames, int) or self.chunk_frames < 1
                or self.chunk_frames % subsampling):
            raise ValueError(f"chunk_frames: expected a positive multiple of the model's subsampling "
                             f"({subsampling}), got {self.chunk_frames!r}")
        if self.sparse_weights not in SPARSE_WEIGHTS:
            raise ValueError(f"sparse_weights: expected one of {SPARSE_WEIGHTS}, got {self.sparse_weights!r}")
        for name in ("context_score", "blank_penalty", "lattice_beam", "lead_padding_s", "tail_padding_s",
                     "lm_scale", "ilm_scale"):
            value = getattr(self, name)
            if value is None and name in ("context_score", "blank_penalty", "lm_scale", "ilm_scale"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        for name in ("lead_padding_s", "tail_padding_s"):
            if getattr(self, name) > 10.0:
                raise ValueError(f"{name}: expected at most 10 s, got {getattr(self, name)!r}")
        if not isinstance(self.lm_end_of_sentence, bool):
            raise ValueError(f"lm_end_of_sentence: expected a bool, got {self.lm_end_of_sentence!r}")
        if self.token_reward is not None:
            if isinstance(self.token_reward, bool) or not isinstance(self.token_reward, (int, float)) \
                    or not np.isfinite(self.token_reward):
                raise ValueError(f"token_reward: expected a finite number, got {self.token_reward!r}")
            if self.decoding == "greedy_search" and self.token_reward != 0:
                raise ValueError("token_reward: modified_beam_search only (in greedy search a blank_penalty of the "
                                 f"same size makes the same choices), got {self.token_reward!r}")

    @property
    def width(self) -> int:
        """Hypotheses the search keeps: the beam, 1 for greedy search (which so takes the settings tuned at the
        narrowest width, tuned_width)."""
        return self.beam if self.decoding == "modified_beam_search" else 1

    def resolved(self, with_lm: bool = False) -> "RecognizerConfig":
        """A copy with the settings left at None filled in with the search's defaults (``with_lm``: those for beam
        search of this width with an n-gram LM, lm_search_defaults(beam))."""
        defaults = dict(SEARCH_DEFAULTS[self.decoding])
        if with_lm and self.decoding == "modified_beam_search":
            defaults.update(lm_search_defaults(self.beam))
        defaults["context_score"] = context_score_default(self.width)
        return dataclasses.replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})


# Score settings per search. Beam search: tuned on a development set as hard as the held-out voices for the bundled
# model (python bench/search_tune.py --corpus v1hard --split dev ... --name search_tune-v2-refresh,
# bench/results/search_tune-v2-refresh.md): token reward 0.9 without a blank penalty made 33.04 % errors there (0.8,
# the lead-extension model's choice: 33.09 %), against 36.1 % with the blank penalty alone (1.5).
# Greedy search keeps the blank penalty it was tuned with (dev: 1/1.5/2); the reward would only repeat it there.
SEARCH_DEFAULTS = {
    "greedy_search": {"blank_penalty": 1.5, "token_reward": 0.0, "lm_scale": 0.0, "ilm_scale": 0.0},
    "modified_beam_search": {"blank_penalty": 0.0, "token_reward": 0.9, "lm_scale": 0.0, "ilm_scale": 0.0},
}
# Beam search with an n-gram LM (Recognizer's lm): the LM's weight and the token reward that offsets its cost per
# token, tuned together on v1hard dev for each beam width with the bundled LM, the end of sentence scored (python
# bench/search_tune.py --corpus v1hard --split dev --lm-scale ... --token-reward ... --blank-penalty 0 --beam B):
# beam 4 31.86 % WER against 33.04 % without the LM (search_tune-lm-end-beam4.md), beam 8 29.10 % and beam 16
# 28.31 % (the finer grids of search_tune-lm-fine-beam8.md and -beam16.md). A width between two tuned ones takes the
# narrower one's settings (lm_search_defaults).
LM_SEARCH_DEFAULTS_BY_BEAM = {
    4: {"lm_scale": 0.2, "token_reward": 1.3},
    8: {"lm_scale": 0.1, "token_reward": 0.9},
    16: {"lm_scale": 0.25, "token_reward": 1.1},
}


def tuned_width(beam: int, widths: Iterable[int]) -> int:
    """Which of the widths settings were tuned at serves a search of width ``beam``: the widest not above it (the
    narrowest when all are above it), so a width between two tuned ones takes the narrower one's settings. The LM's
    (lm_search_defaults) and the end-pointers' (edgeasr.endpoint.config) are chosen so."""
    widths = list(widths)
    return max([w for w in widths if w <= beam], default=min(widths))


def lm_search_defaults(beam: int) -> dict:
    """The LM weight and token reward for beam search of width ``beam`` with an n-gram LM (tuned_width)."""
    return dict(LM_SEARCH_DEFAULTS_BY_BEAM[tuned_width(beam, LM_SEARCH_DEFAULTS_BY_BEAM)])


LM_SEARCH_DEFAULTS = lm_search_defaults(DEFAULT_BEAM)  # what Recognizer() uses with its bundled LM

# The biasing bonus per matched token, tuned on v1hard dev at each width with that width's other settings, by the
# lowest WER with 100 phrases per clip (the clip's names among distractors; bench/search_tune.py ... --context-score
# 0.5,0.75,1,1.25[,1.5]): beam 4 0.5 (search_tune-v2-refresh.md, without the LM), beam 16 1.0 with the LM and without
# it (search_tune-context-lm-beam16.md: 27.56 % against 27.79 % at 0.5, search_tune-context-beam16.md: 30.58 against
# 30.79 %); it finds more of the names at a cost in false ones (182 against 60 on those 1,200 clips with the LM), so
# where a false name costs more than a missed one, 0.5 makes a third of them. Greedy search counts as width 1 (the
# narrowest tuned width's).
CONTEXT_SCORE_BY_BEAM = {4: 0.5, 16: 1.0}


def context_score_default(beam: int) -> float:
    """The biasing bonus per token for a search of width ``beam`` (tuned_width)."""
    return CONTEXT_SCORE_BY_BEAM[tuned_width(beam, CONTEXT_SCORE_BY_BEAM)]


@dataclass
class Word:
    word: str
    start: float        # seconds from the start of the stream
    end: float
    confidence: float   # in [0, 1]


@dataclass
class Hypothesis:
    text: str
    score: float        # acoustic + bias (log domain)
    acoustic: float
    bias: float
    tokens: list[int]


@dataclass
class Result:
    text: str
    words: list[Word]
    tokens: list[int]
    timestamps: list[float]  # seconds, one per token
    score: float
    final: bool              # input finished: no pending biasing bonus is left in any score

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Recognizer:
    """The shared, immutable part: model file, native network, search settings."""

    def __init__(self, model: Union[str, os.PathLike, ModelFile, None] = None,
                 config: Optional[RecognizerConfig] = None, lm: Union[str, os.PathLike, NgramLm, None] = "auto"):
        """``model``: a model file (or a loaded :class:`ModelFile`); None: the bundled one. ``lm``: an n-gram LM over
        the model's tokens to fuse into the beam search (a file or an :class:`NgramLm`); None: no LM; ``"auto"``
        (the default): the bundled LM with the bundled model under beam search, none otherwise (:func:`auto_lm`)."""
        self.model = model if isinstance(model, ModelFile) else load_model(model or default_model_path())
        config = dataclasses.replace(config) if config is not None else RecognizerConfig()  # a private copy
        config.validate(self.model.subsampling)
        if isinstance(lm, str) and lm == "auto":
            lm = auto_lm(model, config.decoding)
        requested = config
        config = config.resolved(with_lm=lm is not None)  # every setting a number from here on
        if lm is not None and not isinstance(lm, NgramLm):
            lm = load_lm(lm, self.model.tokens)
        if lm is not None and lm.tokens != self.model.tokens:
            raise ValueError("lm: made for another token table than the model's")
        if lm is not None and config.decoding != "modified_beam_search":
            raise ValueError(f"lm: needs decoding='modified_beam_search', this recognizer uses {config.decoding!r}")
        self.lm = lm
        self.config = config
        # A stream that does not fuse the LM (one with a grammar, or lm=False) searches with the settings tuned
        # without it: those the user left at None take the search's defaults without an LM.
        self._config_without_lm = requested.resolved(with_lm=False) if lm is not None else config
        arch = self.model.architecture
        native_config = {k: v for k, v in arch.to_dict().items() if k != "type"}
        held = {name: (t.to_dense() if config.sparse_weights == "dense" else t) if isinstance(t, QuantizedMatrix)
                else t for name, t in self.model.tensors.items()}
        # The weight matrices as the runtime holds them (after sparse_weights): format per matrix, and their bytes.
        self.matrix_formats = {name: t.format for name, t in held.items() if isinstance(t, QuantizedMatrix)}
        self.matrix_bytes = sum(t.nbytes for t in held.values() if isinstance(t, QuantizedMatrix))
        self.network = _core.TransducerModel(native_config, {name: t.native if isinstance(t, QuantizedMatrix) else t
                                                             for name, t in held.items()})
        self.tokens = self.model.tokens
        # Encoder steps are stack frames of frame_shift_ms each.
        self.seconds_per_step = self.model.subsampling * self.model.frame_shift_ms / 1000.0
        self._pieces = list(self.tokens.pieces)
        # Phrases are tokenized natively (the same BPE as TokenTable.encode): in Python it took ~2 µs per character,
        # most of the time of building a 100-phrase context graph.
        scores = self.tokens.scores
        self._bpe = _core.BpeEncoder(self._pieces, list(scores)) if scores is not None else None
        self._word_continuations = self.tokens.word_continuations()
        self._start_state = self._silence_state(config.lead_padding_s)

    def _silence_state(self, seconds: float) -> _core.EncoderState:
        """The encoder state after ``seconds`` of digital silence (whole encoder steps), from the zero state."""
        state = self.network.init_state()
        frames = int(round(seconds * 1000.0 / self.model.frame_shift_ms))
        frames -= frames % self.model.subsampling  # whole steps: no frame left pending in the state
        if frames:
            features = self.model.features
            fbank = StreamingFbank(features)
            fbank.accept_waveform(np.zeros(features.window_samples + frames * features.shift_samples, np.float32),
                                  self.sample_rate)
            self.network.encode(fbank.get_new_frames(frames), state)
        return state

    @property
    def sample_rate(self) -> int:
        return self.model.sample_rate

    def context_graph(self, phrases: Iterable[Phrase]) -> Optional[_core.ContextGraph]:
        """Biasing phrases (text, or (text, weight)) tokenized with the model's tokens; None when there are none.
        Build one per list and pass it to several streams: it is immutable and shareable."""
        texts, weights = [], []
        for i, item in enumerate(phrases):
            text, weight = (item, 1.0) if isinstance(item, str) else item
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"context[{i}]: expected a non-empty phrase, got {item!r}")
            texts.append(text.strip().lower())
            weights.append(float(weight))
        if not texts:
            return None
        bonus = float(self.config.context_score)
        if self._bpe is not None:  # the whole list tokenized and built in one native call
            graph = _core.ContextGraph.from_texts(self._bpe, texts, weights, bonus_per_token=bonus,
                                                  word_continuations=self._word_continuations)
        else:
            items = [(self._phrase_tokens("context", i, text), w) for i, (text, w) in enumerate(zip(texts, weights))]
            graph = _core.ContextGraph(items, bonus_per_token=bonus, word_continuations=self._word_continuations)
        graph.tokens = self.tokens  # token ids: they mean something in this table only (as an LM's and a grammar's)
        return graph

    def _encode(self, text: str) -> list[int]:
        return list(self._bpe.encode(text) if self._bpe is not None else self.tokens.encode(text))

    def _phrase_tokens(self, what: str, i: int, text: str) -> list[int]:
        """The tokens of phrase ``i`` of a list, or ValueError "``what``[i]: ..." when it has none or the model's
        tokens cannot spell it (what native EncodeBiasPhrases checks for context lists)."""
        try:
            tokens = self._encode(text)
        except ValueError as e:
            raise ValueError(f"{what}[{i}]: {e}") from None
        if not tokens:
            raise ValueError(f"{what}[{i}]: '{text}' has no tokens")
        if self.tokens.unk_id in tokens:
            raise ValueError(f"{what}[{i}]: the model's tokens cannot spell '{text}' (it maps to <unk>)")
        return tokens

    def grammar(self, phrases: Iterable[str], repeat: bool = False, allow_empty: bool = True) -> Grammar:
        """A grammar for command and control (:class:`edgeasr.grammar.Grammar`): streams given it may only transcribe
        one of ``phrases`` (text, tokenized with the model's tokens), or with ``repeat`` any sequence of them ("five
        five two"), or nothing; the search picks what the audio fits best, as PocketSphinx's and Vosk's grammars do.
        ``allow_empty=False``: not nothing: a finished utterance is always one of the phrases (one that fits in its
        audio), silence included, for an application that knows a phrase was said (push-to-talk, an answer to a
        prompt).
        Until the utterance is finalized, ``result()`` is the best hypothesis so far, which may end inside a phrase.
        Modified beam search only. Build one per list and pass it to several streams: it is immutable."""
        if isinstance(phrases, str):
            raise ValueError("grammar: expected a list of phrases, got one string")
        for name, value in (("repeat", repeat), ("allow_empty", allow_empty)):
            if not isinstance(value, bool):
                raise ValueError(f"{name}: expected a bool, got {value!r}")
        items, texts = [], []
        for i, text in enumerate(phrases):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"grammar[{i}]: expected a non-empty phrase, got {text!r}")
            text = " ".join(text.lower().split())
            items.append(self._phrase_tokens("grammar", i, text))
            texts.append(text)
        if not items:
            raise ValueError("grammar: expected at least one phrase")
        return Grammar(tuple(dict.fromkeys(texts)), repeat, _core.Grammar(items, repeat, allow_empty), self._encode,
                       self.tokens, allow_empty)

    def create_stream(self, context: Union[Iterable[Phrase], _core.ContextGraph, None] = None,
                      grammar: Union[Iterable[str], Grammar, None] = None,
                      chunk_frames: Optional[int] = None, lm: Optional[bool] = None) -> "Stream":
        """``context``: biasing phrases (or a graph from :meth:`context_graph`); ``grammar``: phrases that are the
        only transcripts allowed (or a grammar from :meth:`grammar`); ``chunk_frames``: this stream's decoding
        chunk instead of ``config.chunk_frames`` (the same results, decided sooner or later: the encoder's output does
        not depend on how its input is split); ``lm``: whether the stream fuses the recognizer's n-gram LM (see
        :meth:`stream_uses_lm`; None: yes, unless the stream has a grammar)."""
        if chunk_frames is not None:
            dataclasses.replace(self.config, chunk_frames=chunk_frames).validate(self.model.subsampling)
        graph = context if isinstance(context, _core.ContextGraph) or context is None else self.context_graph(context)
        if getattr(graph, "tokens", self.tokens) != self.tokens:
            raise ValueError("context: a graph built by a recognizer with other tokens; build it with this one's "
                             "context_graph()")
        if grammar is not None:
            grammar = grammar if isinstance(grammar, Grammar) else self.grammar(grammar)
            if grammar.tokens != self.tokens:
                raise ValueError("grammar: built by a recognizer with other tokens; build it with this one's "
                                 "grammar()")
            if self.config.decoding != "modified_beam_search":
                raise ValueError(f"grammar: needs decoding='modified_beam_search', this recognizer uses "
                                 f"{self.config.decoding!r}")
        return Stream(self, graph, grammar, chunk_frames, self.stream_uses_lm(grammar, lm))

    def stream_uses_lm(self, grammar=None, lm: Optional[bool] = None) -> bool:
        """Whether a stream created with ``grammar`` and ``lm`` fuses this recognizer's n-gram LM. ``lm`` None (the
        default): it does unless the stream has a grammar. A grammar is the stream's language model, as in
        PocketSphinx and Vosk: decoding the 40 commands of bench/data/commands.txt as a grammar on dev, the first
        final end-point carried the right command in 92.5 % of clips without the LM against 88.5 % with it, and came
        370 ms after the speech at 0.0 % cut-offs against 455 ms at 0.6 % (bench/results/
        endpoint-commands-dev-grammar[-lm]-feed40-beam16.md). ``True`` fuses it all the same (a ValueError when the
        recognizer has none), ``False`` never."""
        if lm is None:
            return self.lm is not None and grammar is None
        if not isinstance(lm, bool):
            raise ValueError(f"lm: expected True, False or None, got {lm!r}")
        if lm and self.lm is None:
            raise ValueError("lm=True: this recognizer has no n-gram LM (give one as Recognizer(lm=...))")
        return lm

    def transcribe(self, samples: np.ndarray, sample_rate: int,
                   context: Union[Iterable[Phrase], _core.ContextGraph, None] = None,
                   grammar: Union[Iterable[str], Grammar, None] = None, lm: Optional[bool] = None) -> "Stream":
        """Decodes a whole clip; returns the finished stream (``.result()``, ``.nbest()``, ``.lattice()``).
        ``lm``: as for :meth:`create_stream`."""
        stream = self.create_stream(context, grammar, lm=lm)
        stream.accept_waveform(samples, sample_rate)
        stream.input_finished()
        return stream

    def search_config(self, uses_lm: bool) -> RecognizerConfig:
        """The settings a stream searches with: :attr:`config`, or for a stream that does not fuse the recognizer's
        LM the same request resolved without it (the token reward tuned without the LM, lm_scale unused)."""
        return self.config if uses_lm else self._config_without_lm

    def _search(self, graph, grammar=None, uses_lm: bool = True) -> object:
        c = self.search_config(uses_lm)
        if c.decoding == "greedy_search":
            return _core.GreedySearch(self.network, self._pieces, _core.GreedySearchConfig(c.blank_penalty), graph)
        lm = self.lm.native if self.lm is not None and uses_lm else None
        config = _core.BeamSearchConfig(c.beam, c.blank_penalty, c.lattice_beam, token_reward=c.token_reward,
                                        lm_scale=c.lm_scale, lm_end_of_sentence=c.lm_end_of_sentence,
                                        ilm_scale=c.ilm_scale)
        return _core.BeamSearch(self.network, self._pieces, config, graph, grammar.native if grammar else None, lm)


class Stream:
    """One utterance stream: audio in, features, encoder chunks, search. Use from one thread at a time."""

    def __init__(self, recognizer: Recognizer, context_graph=None, grammar=None, chunk_frames: Optional[int] = None,
                 uses_lm: bool = True):
        self._rec = recognizer
        self.chunk_frames = chunk_frames if chunk_frames is not None else recognizer.config.chunk_frames
        self.uses_lm = uses_lm and recognizer.lm is not None  # whether it fuses the recognizer's n-gram LM
        self._fbank = StreamingFbank(recognizer.model.features)
        self._state = recognizer._start_state.copy()
        self._search = recognizer._search(context_graph, grammar, self.uses_lm)
        self._resampler: Optional[StreamingResampler] = None
        self._finished = False
        self._result: Optional[dict] = None  # the search's result dict until the search moves on
        self._step_offset = 0  # encoder steps of the stream before the current utterance (next_utterance)

    def _search_result(self, lattice: bool = True) -> dict:
        """result(), nbest() and lattice() share one native Result() until the search moves on. result() alone
        asks for the best path without the N-best list and the lattice as Python objects (``lattice=False``): a
        stream that shows partial results calls it after every chunk, and those conversions cost as much as the rest
        and grew with the utterance (bench/recognizer_profile.py)."""
        if self._result is None or (lattice and "lattice" not in self._result):
            self._result = self._search.result(lattice)
        return self._result

    def accept_waveform(self, samples: np.ndarray, sample_rate: int) -> None:
        """Appends mono audio at ``sample_rate`` Hz and decodes every chunk that is complete."""
        if self._finished:
            raise ValueError("samples: input_finished() was called on this stream; create a new stream")
        sample_rate = check_sample_rate(sample_rate)
        samples = to_mono_float32(samples, allow_empty=True)
        rate = self._rec.sample_rate
        if sample_rate != rate or self._resampler is not None:
            if self._resampler is None:
                self._resampler = StreamingResampler(sample_rate, rate)
            elif sample_rate != self._resampler.from_rate:
                raise ValueError(f"sample_rate: this stream's audio is at {self._resampler.from_rate} Hz, "
                                 f"got {sample_rate}")
            samples = self._resampler.accept(samples)
        self._fbank.accept_waveform(samples, rate)
        self.decode()

    def input_finished(self) -> None:
        """No more audio: feeds ``tail_padding_s`` of silence, decodes what is left and finalizes the search
        (biasing settled)."""
        if self._finished:
            return
        if self._resampler is not None:
            self._fbank.accept_waveform(self._resampler.flush(), self._rec.sample_rate)
        padding = int(round(self._rec.config.tail_padding_s * self._rec.sample_rate))
        if padding:
            self._fbank.accept_waveform(np.zeros(padding, np.float32), self._rec.sample_rate)
        self._fbank.input_finished()
        self._finished = True
        self.decode()
        self.finalize_utterance()

    def decode(self) -> None:
        """Runs the encoder and the search over every complete chunk of ready frames (all of them once the input
        is finished). accept_waveform and input_finished call it."""
        # Every complete chunk in one call: the encoder's output does not depend on how its input is split, and the
        # search takes frames one by one, so the results are those of one call per chunk, while the input
        # projections run as one GEMM over up to 32 steps (the weights read once, not once per chunk) and the Python
        # and binding overhead is paid once.
        ready = self._fbank.frames_ready
        n = ready if self._finished else ready - ready % self.chunk_frames
        if n:
            enc = self._rec.network.encode(self._fbank.get_new_frames(n), self._state)
            if enc.shape[0]:
                self._search.accept_frames(self._rec.network.project_encoder(enc))
                self._result = None

    @property
    def num_frames(self) -> int:
        """Encoder steps decoded so far in the stream (all utterances)."""
        return self._step_offset + self._search.num_frames

    @property
    def step_offset(self) -> int:
        """The stream's encoder step at which the current utterance began (0 until :meth:`next_utterance`)."""
        return self._step_offset

    def settle(self) -> None:
        """At a speculative end-point: removes every pending (partial-match) biasing bonus, and with an n-gram LM
        scores the end of sentence, so the result and lattice are those of an utterance ending here (until more
        audio is decoded); decoding goes on, and phrase matching restarts."""
        self._search.settle()
        self._result = None

    def finalize_utterance(self) -> None:
        """At a final end-point inside continuous audio: ends the current utterance's search (biasing settled,
        ``result().final``); read its result and lattice, then call :meth:`next_utterance`."""
        if not self._search.finalized:
            self._search.finalize()
            self._result = None

    def next_utterance(self, reset_encoder: bool = True) -> None:
        """Starts the next utterance in the same audio: the search is finalized and reset (hypotheses, lattice and
        frame signals start afresh; the decoder context is back to blanks), while the feature pipeline and the
        resampler carry on, because the audio is continuous. Times stay stream times.

        ``reset_encoder``: the encoder's LSTM state starts afresh too, as at the start of a stream (the state after
        ``lead_padding_s`` of silence); no audio is lost, the features carry on. The default, because the models
        trained here learned single requests, each from a fresh state: carrying the state over from one request to
        the next took the WER of requests 2-5 of dev sessions from 13.0 % to 54.4 % (bench/results/sessions-dev.md,
        ``python bench/sessions.py --split dev``).
        ``False`` keeps it, for a model trained on runs of requests."""
        if self._finished:
            raise ValueError("next_utterance: input_finished() was called on this stream; create a new stream")
        if reset_encoder:
            self._state = self._rec._start_state.copy()
        self.finalize_utterance()
        self._step_offset += self._search.num_frames
        self._search.reset()
        self._result = None

    def result(self) -> Result:
        r = self._search_result(lattice=False)
        step, off = self._rec.seconds_per_step, self._step_offset
        words = [Word(w["word"], (w["start_frame"] + off) * step, (w["end_frame"] + 1 + off) * step, w["confidence"])
                 for w in r["words"]]
        return Result(text=r["text"], words=words, tokens=list(r["tokens"]),
                      timestamps=[(f + off) * step for f in r["token_frames"]], score=r["score"], final=r["final"])

    def nbest(self, n: int = 4) -> list[Hypothesis]:
        """Up to ``n`` distinct hypotheses, best first."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n: expected a positive int, got {n!r}")
        return [Hypothesis(e["text"], e["score"], e["acoustic"], e["bias"], list(e["tokens"]))
                for e in self._search_result()["nbest"][:n]]

    def lattice(self) -> Lattice:
        """The word lattice (:class:`edgeasr.lattice.Lattice`): nodes (id, time), arcs (src, dst, word, start, end,
        acoustic, bias, posterior), start node and final nodes; times in seconds on the encoder's frame grid."""
        lat = self._search_result()["lattice"]
        step, off = self._rec.seconds_per_step, self._step_offset  # stream times, also after next_utterance()
        nodes = [Node(v["id"], (v["frame"] + off) * step) for v in lat["nodes"]]
        arcs = [Arc(a["from"], a["to"], a["word"], (a["start_frame"] + off) * step, (a["end_frame"] + 1 + off) * step,
                    a["acoustic"], a["bias"], a["posterior"]) for a in lat["arcs"]]
        return Lattice(nodes, arcs, lat["start"], lat["finals"], step)

    def frame_signals(self) -> dict:
        """Per encoder step of the current utterance (from :attr:`step_offset`): the best hypothesis's blank log-prob
        and its trailing blank steps (for end-pointers)."""
        return self._search.frame_signals()

