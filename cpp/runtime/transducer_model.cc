#include "edgeasr/transducer_model.h"

#include "activations.h"
#include "edgeasr/vector_math.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace edgeasr {
namespace {

const TransducerConfig& Validated(const TransducerConfig& config) {
  config.Validate();
  return config;
}

}  // namespace

TransducerModel::TransducerModel(const TransducerConfig& config, const NamedTensors& tensors, const KernelSet* kernels)
    : TransducerModel(Validated(config), TensorReader(tensors), kernels) {}

TransducerModel::TransducerModel(const TransducerConfig& config, TensorReader tensors, const KernelSet* kernels)
    : config_(config),
      kernels_(kernels ? kernels : &ActiveKernels()),
      encoder_(config_, tensors, *kernels_),
      embedding_(tensors.Float("decoder.embedding.weight", {size_t(config.vocab_size), size_t(config.decoder_dim)})),
      conv_weight_(tensors.Float("decoder.conv.weight",
                                 {size_t(config.decoder_dim), 1, size_t(config.context_size)})),
      conv_bias_(tensors.Float("decoder.conv.bias", {size_t(config.decoder_dim)})),
      dec_proj_(tensors.TakeLinear("joiner.dec_proj.weight", config.joiner_dim, config.decoder_dim,
                                   "joiner.dec_proj.bias")),
      enc_proj_(tensors.TakeLinear("joiner.enc_proj.weight", config.joiner_dim, config.d_model,
                                   "joiner.enc_proj.bias")),
      output_(tensors.TakeLinear("joiner.output.weight", config.vocab_size, config.joiner_dim, "joiner.output.bias")) {
  tensors.CheckAllTaken();
}

void TransducerModel::ProjectEncoder(const float* enc, size_t t, float* out) const {
  enc_proj_.Apply(enc, t, out, *kernels_);
}

void TransducerModel::DecoderProjected(const int32_t* contexts, size_t n, float* dec) const {
  const size_t dim = config_.decoder_dim, k_size = config_.context_size;
  for (size_t i = 0; i < n * k_size; ++i)
    if (contexts[i] < 0 || contexts[i] >= config_.vocab_size)
      throw std::invalid_argument("contexts: token id " + std::to_string(contexts[i]) + " at [" +
                                  std::to_string(i / k_size) + "][" + std::to_string(i % k_size) +
                                  "] outside [0, " + std::to_string(config_.vocab_size) + ")");
  // Per-thread scratch: the model is shared by streams on several threads, and the search calls this often.
  thread_local std::vector<float> mixed;
  mixed.resize(n * dim);
  for (size_t i = 0; i < n; ++i) {
    float* out = mixed.data() + i * dim;
    std::copy(conv_bias_.begin(), conv_bias_.end(), out);
    // Depthwise convolution over the whole context: one output position, tap k on context position k.
    for (size_t k = 0; k < k_size; ++k) {
      const float* emb = embedding_.data() + static_cast<size_t>(contexts[i * k_size + k]) * dim;
      for (size_t d = 0; d < dim; ++d) out[d] += conv_weight_[d * k_size + k] * emb[d];
    }
    for (size_t d = 0; d < dim; ++d) out[d] = std::max(out[d], 0.0f);
  }
  dec_proj_.Apply(mixed.data(), n, dec, *kernels_);
}

void TransducerModel::JointLogProbs(const float* enc_frame, const float* dec, size_t n, float* log_probs) const {
  const size_t dim = config_.joiner_dim, vocab = config_.vocab_size;
  thread_local std::vector<float> hidden;
  hidden.resize(n * dim);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < dim; ++j) hidden[i * dim + j] = enc_frame[j] + dec[i * dim + j];
  TanhInPlace(hidden.data(), n * dim);
  output_.Apply(hidden.data(), n, log_probs, *kernels_);
  for (size_t i = 0; i < n; ++i) LogSoftmaxInPlace(log_probs + i * vocab, vocab);
}

}  // namespace edgeasr
