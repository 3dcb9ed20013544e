"""edgeasr: on-device speech recognition with compressed RNN-T models."""

from edgeasr import kernels
from edgeasr.kernels import QuantizedMatrix
from edgeasr.tokens import TokenTable

__version__ = "0.1.0"
__all__ = ["QuantizedMatrix", "TokenTable", "kernels", "__version__"]
