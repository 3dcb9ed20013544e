// The streaming encoder: stack frames, Linear + LayerNorm to d_model, then residual projected-LSTM layers
// (PyTorch nn.LSTM with proj_size, gate order i, f, g, o). The network is immutable; each stream's state lives in an
// EncoderState, so one encoder can serve several streams on several threads.
#pragma once

#include <cstddef>
#include <vector>

#include "edgeasr/kernels.h"
#include "edgeasr/linear.h"
#include "edgeasr/named_tensors.h"
#include "edgeasr/transducer_config.h"

namespace edgeasr {

// One stream's encoder state. Copyable: a copy continues exactly as the original would.
struct EncoderState {
  std::vector<float> h;        // [num_layers][d_model], LSTM outputs of the last step
  std::vector<float> c;        // [num_layers][hidden], LSTM cells
  std::vector<float> pending;  // [p][num_features], p < stack: frames not yet forming a whole step

  size_t pending_frames(size_t num_features) const { return pending.size() / num_features; }
};

class LstmEncoder {
 public:
  // Takes encoder.input_proj.*, encoder.input_norm.* and encoder.layers.{i}.* from `tensors`. config must be valid.
  LstmEncoder(const TransducerConfig& config, TensorReader& tensors, const KernelSet& kernels);

  // Zero h and c, nothing pending.
  EncoderState InitState() const;

  // Appends feats[frames][num_features] to the stream and encodes every whole step of `stack` frames:
  // out = [steps][d_model] (resized; previous contents dropped), steps = (pending + frames) / stack. The frames left
  // over wait in the state for the next call, so any chunking of the frames gives exactly the output of one call.
  // Throws std::invalid_argument for a state of another shape or non-finite features; a throw leaves the state as
  // it was (out's contents are then unspecified).
  void Encode(const float* feats, size_t frames, EncoderState& state, std::vector<float>* out) const;

 private:
  struct Layer {
    Linear input;      // W_ih with b_ih + b_hh: [4H][d], applied to a whole chunk at once
    Linear recurrent;  // W_hh [4H][d], no bias, one step at a time
    Linear project;    // W_hr [d][H], no bias
  };

  // Encodes steps[n][stack * num_features] into out[n][d_model], carrying the state.
  void EncodeSteps(const float* steps, size_t n, EncoderState& state, float* out) const;

  size_t num_features_, stack_, d_model_, hidden_;
  const KernelSet* kernels_;
  Linear input_proj_;
  std::vector<float> norm_weight_, norm_bias_;
  std::vector<Layer> layers_;
};

}  // namespace edgeasr
