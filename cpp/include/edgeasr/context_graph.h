// Shallow-fusion biasing: an Aho-Corasick automaton over the token sequences of the user's phrases (contact and
// device names). Immutable once built, so one graph can be shared by every stream of a recognizer.
//
// Scores. bonus_per_token β and phrase weight w give the phrase a per-token bonus b = β·w; a complete occurrence of
// phrase p earns B_p = b_p·|p| for good. Automaton state s = the longest suffix of the tokens so far that is a prefix
// of some phrase; its pending bonus P(s) = Σ over the prefix's tokens of the largest b among phrases through that
// prefix (the most any phrase it could still become would pay). At every moment
//     bias(tokens) = Σ over every occurrence of every phrase in tokens (overlapping, nested) of B_p  +  P(s),
// which Forward() keeps by returning  P(s') - P(s) + Σ B_p over phrases ending at s'. So matched tokens earn their
// bonus at once; a partial match that fails is refunded down to the longest suffix that is still a prefix (which
// keeps its own bonus); a full match is kept; Settle() refunds P(s) and leaves only complete matches.
//
// Word boundaries. Given the tokens that continue a word (word pieces without sentencepiece's "▁"), a complete
// match counts only when a word boundary follows it: the next token starts a word, or the utterance ends. A token
// that continues the word takes the matches ending before it back, so the phrase "awning" does not boost
// "awnings" and "ceiling fan" does not boost "ceiling fancy". Forward() then also returns -M(s) for such a token,
// M(s) = Σ B_p over phrases ending at s. Without that list every token is a boundary (characters as tokens).
//
// Phrases whose bonus is 0 (weight 0) are dropped: they could not change any score, and dropping them keeps the
// automaton states, and so the search's recombination, identical to searching without biasing. A phrase given twice
// keeps its largest weight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgeasr/token_trie.h"

namespace edgeasr {

struct ContextGraphConfig {
  float bonus_per_token = 1.5f;  // β: bonus per matched token of a weight-1 phrase, in log-probability units

  void Validate() const;  // throws std::invalid_argument naming the field
  std::string ToString() const;
};

struct BiasPhrase {
  std::vector<int32_t> tokens;  // token ids, non-empty, never the blank
  float weight = 1.0f;          // finite, >= 0; multiplies bonus_per_token
};

class ContextGraph {
 public:
  static constexpr int32_t kRoot = 0;

  struct Step {
    int32_t state;
    float bonus;  // change of the bias score; negative when a partial match is refunded
  };

  // Throws std::invalid_argument ("phrases[i].tokens: ...", "phrases[i].weight: ...", or a config field).
  // word_continuations: token ids that continue a word (see above); may hold ids no phrase uses.
  explicit ContextGraph(const std::vector<BiasPhrase>& phrases, const ContextGraphConfig& config = {},
                        const std::vector<int32_t>& word_continuations = {});

  Step Forward(int32_t state, int32_t token) const;
  // next[t], bonus[t] = Forward(state, t) for every t in [0, vocab_size): one pass over the failure chain.
  void ForwardAll(int32_t state, int32_t vocab_size, int32_t* next, float* bonus) const;
  float Pending(int32_t state) const { return pending_[static_cast<size_t>(state)]; }
  Step Settle(int32_t state) const { return {kRoot, -Pending(state)}; }

  // Bias of a whole token sequence from the root (settled: without the pending part), for tests and tools.
  double Score(const std::vector<int32_t>& tokens, bool settle = true) const;

  int32_t num_states() const { return static_cast<int32_t>(fail_.size()); }
  size_t num_phrases() const { return num_phrases_; }  // kept phrases (distinct, nonzero bonus)
  int32_t max_token() const { return max_token_; }     // -1 when empty
  bool UsesToken(int32_t token) const;
  bool ContinuesWord(int32_t token) const;
  const ContextGraphConfig& config() const { return config_; }

 private:
  ContextGraphConfig config_;
  TokenTrie trie_;                 // the phrases' token sequences
  std::vector<int32_t> fail_;      // longest proper suffix that is a state
  std::vector<float> pending_;     // P(s)
  std::vector<float> match_;       // Σ B_p over phrases that are suffixes of s
  std::vector<int32_t> tokens_used_;  // sorted, unique
  std::vector<int32_t> word_continuations_;  // sorted, unique
  size_t num_phrases_ = 0;
  int32_t max_token_ = -1;
};

}  // namespace edgeasr
