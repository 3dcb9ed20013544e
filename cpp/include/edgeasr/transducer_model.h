// The RNN-T network at inference: streaming LSTM encoder, stateless decoder and joiner, built from named tensors
// (PyTorch state_dict names) and checked against a TransducerConfig. Immutable after construction and safe to use
// from several threads at once; per-stream encoder state lives in the caller's EncoderState.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgeasr/kernels.h"
#include "edgeasr/linear.h"
#include "edgeasr/lstm_encoder.h"
#include "edgeasr/named_tensors.h"
#include "edgeasr/transducer_config.h"
#include "edgeasr/transducer_scorer.h"

namespace edgeasr {

class TransducerModel final : public TransducerScorer {
 public:
  // Validates config, then takes (copies) every tensor the network needs from `tensors`; a missing, misshapen,
  // non-finite or unexpected tensor throws std::invalid_argument naming it. Quantized weights run on `kernels`
  // (null: ActiveKernels()).
  TransducerModel(const TransducerConfig& config, const NamedTensors& tensors, const KernelSet* kernels = nullptr);

  const TransducerConfig& config() const { return config_; }

  EncoderState InitState() const { return encoder_.InitState(); }
  // feats[frames][num_features] -> out[steps][d_model]; see LstmEncoder::Encode.
  void Encode(const float* feats, size_t frames, EncoderState& state, std::vector<float>* out) const {
    encoder_.Encode(feats, frames, state, out);
  }
  // out[t][joiner_dim] = enc_proj(enc[t][d_model]).
  void ProjectEncoder(const float* enc, size_t t, float* out) const;

  int vocab_size() const override { return config_.vocab_size; }
  int blank_id() const override { return config_.blank_id; }
  int context_size() const override { return config_.context_size; }
  int joiner_dim() const override { return config_.joiner_dim; }
  // Token ids outside [0, vocab_size) throw std::invalid_argument.
  void DecoderProjected(const int32_t* contexts, size_t n, float* dec) const override;
  void JointLogProbs(const float* enc_frame, const float* dec, size_t n, float* log_probs) const override;

 private:
  // The public constructor's work, with the reader alive while the members take their tensors.
  TransducerModel(const TransducerConfig& config, TensorReader tensors, const KernelSet* kernels);

  TransducerConfig config_;
  const KernelSet* kernels_;
  LstmEncoder encoder_;
  std::vector<float> embedding_;  // [vocab_size][decoder_dim]
  std::vector<float> conv_weight_;  // [decoder_dim][context_size]: tap k on context position k, oldest first
  std::vector<float> conv_bias_;  // [decoder_dim]
  Linear dec_proj_, enc_proj_, output_;
};

}  // namespace edgeasr
