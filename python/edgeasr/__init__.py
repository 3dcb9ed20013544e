"""edgeasr: on-device speech recognition with compressed RNN-T models."""

from edgeasr import kernels
from edgeasr.kernels import QuantizedMatrix

__version__ = "0.1.0"
__all__ = ["QuantizedMatrix", "kernels", "__version__"]
