// A TransducerScorer made of tables, for tests and examples: log P(· | frame, context) is the log-softmax of logits
// set explicitly for that (frame, context), or else drawn from a fixed pseudo-random function of (seed, frame,
// context, token). Encoder rows carry the frame index in column 0 (EncoderFrames makes them); projected decoder rows
// carry the context's token ids, so every score is known exactly to the test that set it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "edgeasr/transducer_scorer.h"

namespace edgeasr {

struct TableScorerOptions {
  int32_t vocab_size = 0;    // >= 2
  int32_t blank_id = 0;
  int32_t context_size = 2;  // >= 1
  uint64_t seed = 0;
  float scale = 1.f;         // pseudo-random logits are uniform in [-scale, scale)
  float blank_bias = 0.f;    // added to the blank's pseudo-random logit

  void Validate() const;  // throws std::invalid_argument naming the field
};

class TableScorer final : public TransducerScorer {
 public:
  explicit TableScorer(const TableScorerOptions& options);

  // Logits at (frame, context) from now on; context holds context_size token ids, oldest first. Not thread-safe:
  // set the table up before decoding.
  void Set(int32_t frame, const std::vector<int32_t>& context, const std::vector<float>& logits);
  // enc[count][joiner_dim] for frames first_frame, first_frame + 1, ...
  std::vector<float> EncoderFrames(int32_t first_frame, int32_t count) const;
  // What JointLogProbs returns at (frame, context).
  std::vector<float> LogProbs(int32_t frame, const std::vector<int32_t>& context) const;

  int vocab_size() const override { return options_.vocab_size; }
  int blank_id() const override { return options_.blank_id; }
  int context_size() const override { return options_.context_size; }
  int joiner_dim() const override { return options_.context_size; }
  void DecoderProjected(const int32_t* contexts, size_t n, float* dec) const override;
  void JointLogProbs(const float* enc_frame, const float* dec, size_t n, float* log_probs) const override;

 private:
  void Logits(int32_t frame, const int32_t* context, float* out) const;

  TableScorerOptions options_;
  std::map<std::vector<int32_t>, std::vector<float>> table_;  // key: frame, then the context
};

}  // namespace edgeasr
