"""End-pointing: a speculative and a final end-pointer on the recognizer's per-step signals, and the protocol of
events they drive on a stream (:class:`EndpointingStream`). Inference only: numpy and the extension."""

from edgeasr.endpoint.completeness import CompletenessModel, GrammarCompleteness, default_completeness
from edgeasr.endpoint.config import EndpointConfig, final_defaults, search_defaults, speculative_defaults
from edgeasr.endpoint.endpointer import Decision, Endpointer
from edgeasr.endpoint.energy import NoiseFloor, StepEnergy
from edgeasr.endpoint.events import Event, FinalEndpoint, Reset, SpeculativeEndpoint
from edgeasr.endpoint.stream import EndpointingStream

__all__ = ["CompletenessModel", "Decision", "EndpointConfig", "Endpointer", "EndpointingStream", "Event",
           "FinalEndpoint", "GrammarCompleteness", "NoiseFloor", "Reset", "SpeculativeEndpoint", "StepEnergy",
           "default_completeness", "final_defaults", "search_defaults", "speculative_defaults"]
