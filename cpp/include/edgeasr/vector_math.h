// Softmax arithmetic over a row of the joiner's output, in loops the compiler vectorizes (with the same exp
// approximation as the LSTM cell, cpp/runtime/activations.cc): libm's scalar exp took about a fifth of beam
// search, 256 calls per hypothesis per step for the log-softmax and as many again for the blank penalty.
#pragma once

#include <cstddef>

namespace edgeasr {

// x[i] -= log(sum_j exp(x[j])) for i < n (n >= 1; x finite or -inf, not all -inf). Max relative error of the
// exponentials against libm about 2e-7.
void LogSoftmaxInPlace(float* x, size_t n);

// sum_i exp(x[i]) for i < n, the terms in float (same approximation), summed in double; x[i] <= 88 or -inf.
double SumExp(const float* x, size_t n);

}  // namespace edgeasr
