// What a transducer search needs from the network, and nothing more: projected decoder outputs for token contexts,
// and joint log-probabilities of one projected encoder frame against several of them. The runtime's model
// implements it; search tests implement it with small tables whose scores they know exactly.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgeasr {

class TransducerScorer {
 public:
  virtual ~TransducerScorer() = default;

  virtual int vocab_size() const = 0;    // output classes, blank included
  virtual int blank_id() const = 0;
  virtual int context_size() const = 0;  // tokens the stateless decoder sees
  virtual int joiner_dim() const = 0;    // width of projected encoder frames and projected decoder outputs

  // dec[n][joiner_dim] = the projected decoder output for each context; contexts[n][context_size] holds token ids,
  // oldest first, with blank_id before the first token of an utterance.
  virtual void DecoderProjected(const int32_t* contexts, size_t n, float* dec) const = 0;

  // log_probs[n][vocab_size] = log_softmax over the vocabulary of the joiner applied to one projected encoder
  // frame enc_frame[joiner_dim] and each of dec[n][joiner_dim].
  virtual void JointLogProbs(const float* enc_frame, const float* dec, size_t n, float* log_probs) const = 0;

  // Both calls are const and must be safe to make from several threads at once on one scorer.
};

}  // namespace edgeasr
