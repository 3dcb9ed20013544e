// Modified beam search (one symbol per frame at most, as in icefall / sherpa-onnx "modified_beam_search") with
// shallow-fusion biasing inside the beam and hypothesis recombination into a lattice.
//
// Per frame: the decoder outputs of all hypotheses' contexts (cached per context) go to one batched joiner call;
// every hypothesis expands to blank (stays) or to each token, scored acoustic + biasing bonus (+ the n-gram LM's
// score; its end of sentence at Finalize()). A hypothesis's future depends only on its last context_size tokens,
// its biasing state and, with a grammar or an LM, their states (its key), so candidates with one key are recombined:
// those with identical token sequences merge by log-add (the alignments of one transcript), and of the distinct
// sequences the best survives while the others are kept as extra incoming lattice arcs rather than dropped, as HMM
// decoders do when generating lattices.
// The `beam` keys whose best candidate scores highest survive.
//
// The lattice keeps each node's best incoming arc carrying the log-added mass of its sequence, so a lattice path's
// score (acoustic + bias) is the score the search gave that hypothesis, and the best lattice path is the 1-best.
// Result() turns it into a word lattice of at most max_lattice_arcs arcs (see BeamSearchConfig).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "edgeasr/context_graph.h"
#include "edgeasr/grammar.h"
#include "edgeasr/ngram_lm.h"
#include "edgeasr/token_table.h"
#include "edgeasr/transducer_scorer.h"
#include "edgeasr/transducer_search.h"

namespace edgeasr {

struct BeamSearchConfig {
  int32_t beam = 4;                   // hypotheses (distinct keys) kept per frame
  float blank_penalty = 0.f;          // subtracted from the blank's logit, as sherpa-onnx does; counts in the score
  float lattice_beam = 8.f;           // recombined arcs worse than their survivor by more than this are not
                                      // recorded, and the result's lattice keeps paths within this of the best (and
                                      // always the N-best paths); infinity keeps everything
  int32_t decoder_cache_size = 1024;  // projected decoder outputs remembered per stream; >= beam
  int32_t max_lattice_arcs = 20000;   // >= 1: Result()'s word lattice has at most this many arcs. Where lattice_beam
                                      // would give more, the beam is halved until the paths within it and the N-best
                                      // paths fit, down to the N-best paths alone (kept even if they need more: about
                                      // one arc per word of each). The work is bounded too, to about 16 steps per arc
                                      // at a time and 64 * max_lattice_arcs in all (for a pathological 2 s clip at the
                                      // default: under 0.1 s and about 20 MB), so a lattice of very long words may be
                                      // pruned below the limit. A lattice that fits comes out as without the limit.
                                      // WordLattice::beam tells the beam used.
  float token_reward = 0.f;           // added to the score of every token emitted (a length reward, like Kaldi's word
                                      // insertion penalty with the other sign): counts in the acoustic score, so the
                                      // lattice's best path stays the 1-best. Short hypotheses made of long blank
                                      // runs otherwise win on noisy audio (deletions)
  float lm_scale = 0.f;               // with an n-gram LM: each token emitted adds lm_scale * ln P_lm(token | history)
                                      // (shallow fusion). Counted in the acoustic score, as token_reward is, so the
                                      // lattice's scores are the search's; 0 ignores the LM
  bool lm_end_of_sentence = true;     // with an LM: Finalize() adds lm_scale * ln P_lm(</s> | history) to every
                                      // hypothesis (an arc without a token in the lattice), so a transcript that
                                      // stops mid-request ("set a timer for") pays for it, as Kaldi's final weights.
                                      // Settle() scores it too, for Result() until the next frame: a speculative
                                      // end-point sees what finalizing there would give
  float ilm_scale = 0.f;              // with an LM: each token emitted also adds -ilm_scale * ln P_ilm(token |
                                      // context), the transducer's internal LM (the joiner with the encoder's part
                                      // zero, renormalized over the tokens): the prior of its training text, which
                                      // the n-gram LM stands in for (ILME, Meng et al. 2021). Counted in the
                                      // acoustic score; ignored without an LM

  void Validate() const;  // throws std::invalid_argument naming the field
  std::string ToString() const;
};

class BeamSearch final : public TransducerSearch {
 public:
  // pieces: the token table, one piece per output class of the scorer. grammar: when given, only its phrases may be
  // emitted, and once finalized the result holds only hypotheses that end in one of its final states (before, the
  // partial result may end inside a phrase; see grammar.h). lm: an n-gram LM over the same tokens for shallow
  // fusion, weighted by config.lm_scale (its state joins the key, so recombination stays exact). Throws
  // std::invalid_argument naming the bad argument (scorer, pieces, config field, context_graph, grammar, lm).
  BeamSearch(std::shared_ptr<const TransducerScorer> scorer, std::vector<std::string> pieces,
             const BeamSearchConfig& config = {}, std::shared_ptr<const ContextGraph> context_graph = nullptr,
             std::shared_ptr<const Grammar> grammar = nullptr, std::shared_ptr<const NgramLm> lm = nullptr);
  ~BeamSearch() override;

  void AcceptFrames(const float* enc, size_t num_frames) override;
  void Settle() override;
  void Finalize() override;
  SearchResult Result() const override;
  void Reset() override;
  const std::vector<FrameSignal>& FrameSignals() const override;
  int32_t NumFrames() const override;
  bool Finalized() const override;

  const BeamSearchConfig& config() const { return config_; }
  const TransducerScorer& scorer() const { return *scorer_; }
  int32_t NumActive() const;  // hypotheses alive now

 private:
  struct State;
  void ProcessFrame(const float* enc_frame);
  void SettleBias();          // refunds pending biasing bonuses (Settle's first half)
  void ScoreEndOfSentence();  // with an LM: each hypothesis's end-of-sentence arc, for Result() and Finalize()

  std::shared_ptr<const TransducerScorer> scorer_;
  TokenTable tokens_;
  BeamSearchConfig config_;
  std::shared_ptr<const ContextGraph> graph_;
  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const NgramLm> lm_;
  std::unique_ptr<State> s_;
};

}  // namespace edgeasr
