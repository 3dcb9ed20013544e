import numpy as np
import pytest

from edgeasr import kernels

# Every kernel set this build has and this CPU runs: tests run once per ISA, none is skipped silently.
ISAS = kernels.supported_isas()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_int_weights(rng, rows, cols, bits, density):
    qmax = 127 if bits == 8 else 7
    q = rng.integers(-qmax, qmax + 1, size=(rows, cols)).astype(np.int8)
    q[rng.random((rows, cols)) >= density] = 0
    return q
