"""The end-pointing protocol as events on a stream.

Per utterance: one ``SpeculativeEndpoint`` (early: downstream work may start on its lattice), then one
``FinalEndpoint``. When the final end-pointer agrees (no word was added or changed since the speculative one), the
final event is ``confirmed`` and carries the same lattice; when the speculative one was premature, the final event
carries the revised lattice and is followed by a ``Reset``: downstream must discard what it started on the
speculative lattice. After the final event the stream goes on with the next utterance (``utterance`` + 1).

Times are seconds of stream audio from the stream's first sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:  # runtime imports stay light: events are plain data
    from edgeasr.lattice import Lattice
    from edgeasr.recognizer import Result


@dataclass(frozen=True)
class SpeculativeEndpoint:
    utterance: int          # 0, 1, ... within the stream
    time: float             # stream time at which the end-pointer fired (end of the audio it had seen)
    speech_end: float       # its estimate of where speech ended (end of the last word)
    lattice: "Lattice"      # the word lattice so far, biasing settled
    result: "Result"        # the on-device best hypothesis so far
    rule: str = ""          # the rule that fired (edgeasr.endpoint.endpointer.Decision.rule): "complete",
                            # "incomplete", "long", "max_utterance", "end_of_input"; the final one's when it fired first


@dataclass(frozen=True)
class FinalEndpoint:
    utterance: int
    time: float
    speech_end: float
    confirmed: bool         # True: the speculative lattice stands; False: ``lattice`` is a revision, a Reset follows
    lattice: "Lattice"      # the utterance's final lattice
    result: "Result"        # the on-device final hypothesis (what stands when the cloud is unreachable)
    rule: str = ""          # the final end-pointer's rule that fired, as in SpeculativeEndpoint


@dataclass(frozen=True)
class Reset:
    utterance: int
    time: float


Event = Union[SpeculativeEndpoint, FinalEndpoint, Reset]

__all__ = ["SpeculativeEndpoint", "FinalEndpoint", "Reset", "Event"]
