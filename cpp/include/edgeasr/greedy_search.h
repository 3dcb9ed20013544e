// Greedy transducer search, one symbol per frame at most: at each frame take the argmax of log P(k | frame, context)
// (plus the biasing bonus of k, when a context graph is given; blank gets the blank penalty); if it is not the blank,
// emit it and shift it into the decoder context. Ties go to the lower token id. With the same inputs it equals
// BeamSearch with beam 1, token for token and score for score.
//
// Word confidence: the geometric mean of the word's token probabilities (its lattice has one path, so posteriors
// would all be 1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgeasr/context_graph.h"
#include "edgeasr/token_table.h"
#include "edgeasr/transducer_scorer.h"
#include "edgeasr/transducer_search.h"

namespace edgeasr {

struct GreedySearchConfig {
  float blank_penalty = 0.f;  // subtracted from the blank's logit, as sherpa-onnx does; counts in the score

  void Validate() const;  // throws std::invalid_argument naming the field
  std::string ToString() const;
};

class GreedySearch final : public TransducerSearch {
 public:
  // pieces: the token table, one piece per output class of the scorer. Throws std::invalid_argument naming the bad
  // argument (scorer, pieces, config field, context_graph).
  GreedySearch(std::shared_ptr<const TransducerScorer> scorer, std::vector<std::string> pieces,
               const GreedySearchConfig& config = {}, std::shared_ptr<const ContextGraph> context_graph = nullptr);
  ~GreedySearch() override;

  void AcceptFrames(const float* enc, size_t num_frames) override;
  void Settle() override;
  void Finalize() override;
  SearchResult Result() const override;
  void Reset() override;
  const std::vector<FrameSignal>& FrameSignals() const override;
  int32_t NumFrames() const override;
  bool Finalized() const override;

  const GreedySearchConfig& config() const { return config_; }
  const TransducerScorer& scorer() const { return *scorer_; }

 private:
  struct State;
  void ProcessFrame(const float* enc_frame);

  std::shared_ptr<const TransducerScorer> scorer_;
  TokenTable tokens_;
  GreedySearchConfig config_;
  std::shared_ptr<const ContextGraph> graph_;
  std::unique_ptr<State> s_;
};

}  // namespace edgeasr
