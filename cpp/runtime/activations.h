// The network's elementwise work (the LSTM cell, the joiner's tanh), written as plain loops over arrays so that
// the compiler vectorizes them: libm's scalar expf/tanhf cost about 20 ns each, and a step of a 384-cell layer
// needs five per cell, which made them the largest part of the encoder's time (and the joiner's tanh 40 % of beam
// search's).
#pragma once

#include <cstddef>

namespace edgeasr {

// gates[4 * hidden] holds the pre-activations in PyTorch's order (input, forget, cell candidate, output); they are
// overwritten. c[hidden] is updated in place, cell_out[hidden] = o * tanh(c). Max relative error of the
// activations against libm: about 2e-7 (checked by the runtime tests against a double-precision reference).
void LstmCellUpdate(float* gates, size_t hidden, float* c, float* cell_out);

// x[i] = tanh(x[i]) for i < n, by the same approximation as the cell's.
void TanhInPlace(float* x, size_t n);

}  // namespace edgeasr
