"""edgeasr: on-device speech recognition with compressed RNN-T models."""

from edgeasr import audio, kernels
from edgeasr.audio import load_audio, resample, to_mono_float32
from edgeasr.endpoint import (EndpointConfig, EndpointingStream, FinalEndpoint, Reset, SpeculativeEndpoint,
                              final_defaults, speculative_defaults)
from edgeasr.grammar import Grammar
from edgeasr.kernels import QuantizedMatrix
from edgeasr.lattice import Lattice, LatticeError
from edgeasr.model_file import Architecture, ModelFile, ModelFileError, load_model, save_model
from edgeasr.ngram_lm import NgramLm, NgramLmError, load_lm
from edgeasr.recognizer import Recognizer, RecognizerConfig, Result, Stream
from edgeasr.tokens import TokenTable

__version__ = "0.1.0"
__all__ = ["Architecture", "EndpointConfig", "EndpointingStream", "FinalEndpoint", "Grammar", "Lattice",
           "LatticeError", "ModelFile", "ModelFileError", "NgramLm", "NgramLmError", "QuantizedMatrix", "Recognizer",
           "RecognizerConfig", "Reset", "Result", "SpeculativeEndpoint", "Stream", "TokenTable", "audio",
           "final_defaults", "kernels", "load_audio", "load_lm", "load_model", "resample", "save_model",
           "speculative_defaults", "to_mono_float32", "__version__"]
