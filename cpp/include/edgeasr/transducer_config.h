// Shapes of a transducer network: what the runtime needs to check a model's tensors and size its state.
#pragma once

#include <string>

namespace edgeasr {

struct TransducerConfig {
  int num_features = 80;  // feature bins per input frame
  int stack = 4;          // frames concatenated into one encoder step: the time reduction
  int d_model = 256;      // encoder width: LSTM projection size, each layer's output and the h state
  int hidden = 640;       // LSTM cell size: the c state
  int num_layers = 3;     // residual projected-LSTM layers
  int decoder_dim = 256;  // stateless decoder width
  int context_size = 2;   // tokens the stateless decoder sees
  int joiner_dim = 256;   // width of projected encoder frames and decoder outputs
  int vocab_size = 256;   // output classes, blank included
  int blank_id = 0;       // the blank class, also the decoder's padding before the first token

  // Throws std::invalid_argument naming the first field that cannot describe a network.
  void Validate() const;
  // "TransducerConfig(num_features=80, stack=4, ...)"
  std::string ToString() const;
};

}  // namespace edgeasr
