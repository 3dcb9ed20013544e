#include "edgeasr/transducer_config.h"

#include <stdexcept>
#include <string>

namespace edgeasr {

void TransducerConfig::Validate() const {
  const std::pair<const char*, int> positive[] = {
      {"num_features", num_features}, {"stack", stack},           {"d_model", d_model},
      {"hidden", hidden},             {"num_layers", num_layers}, {"decoder_dim", decoder_dim},
      {"context_size", context_size}, {"joiner_dim", joiner_dim},
  };
  for (const auto& [name, value] : positive)
    if (value < 1)
      throw std::invalid_argument(std::string("TransducerConfig.") + name + " must be positive, got " +
                                  std::to_string(value));
  // PyTorch refuses proj_size >= hidden_size, so no trained model has it.
  if (d_model >= hidden)
    throw std::invalid_argument("TransducerConfig.d_model (" + std::to_string(d_model) + ") must be below hidden (" +
                                std::to_string(hidden) + ")");
  if (vocab_size < 2)
    throw std::invalid_argument("TransducerConfig.vocab_size must be >= 2 (blank + a token), got " +
                                std::to_string(vocab_size));
  if (blank_id < 0 || blank_id >= vocab_size)
    throw std::invalid_argument("TransducerConfig.blank_id must lie in [0, vocab_size=" + std::to_string(vocab_size) +
                                "), got " + std::to_string(blank_id));
}

std::string TransducerConfig::ToString() const {
  return "TransducerConfig(num_features=" + std::to_string(num_features) + ", stack=" + std::to_string(stack) +
         ", d_model=" + std::to_string(d_model) + ", hidden=" + std::to_string(hidden) +
         ", num_layers=" + std::to_string(num_layers) + ", decoder_dim=" + std::to_string(decoder_dim) +
         ", context_size=" + std::to_string(context_size) + ", joiner_dim=" + std::to_string(joiner_dim) +
         ", vocab_size=" + std::to_string(vocab_size) + ", blank_id=" + std::to_string(blank_id) + ")";
}

}  // namespace edgeasr
