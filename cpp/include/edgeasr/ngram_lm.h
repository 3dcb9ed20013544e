// A backoff n-gram language model over the transducer's tokens, for shallow fusion in the beam search: each token a
// hypothesis emits adds lm_scale * ln P(token | the tokens before it), and the finished utterance adds the end of
// sentence's, so word sequences the domain's text makes likely win over acoustically close ones ("fifteen percent"
// over "fifteen a m"), as Kaldi's and PocketSphinx's n-gram decoders and sherpa-onnx's LM fusion do.
//
// The model is an ARPA backoff model compiled into arrays (edgeasr.ngram_lm does that in Python): a state is a
// history, the longest suffix of the tokens so far that the model holds, state 0 being the empty history. Each
// state has its backoff weight, its suffix state (the history without its oldest token) and its explicit n-grams,
// sorted by token: P(w | h) is the n-gram's probability when h has one for w, else backoff(h) * P(w | suffix(h)).
// The state after w is the arc's `next`: the longest suffix of h w that is a state. Immutable once built: one model
// can be shared by every stream of a recognizer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace edgeasr {

struct NgramLmArrays {
  int32_t vocab_size = 0;              // token ids 0..vocab_size-1; the end of sentence is vocab_size
  int32_t start_state = 0;             // the state after <s>
  std::vector<float> backoff;          // per state, natural log
  std::vector<int32_t> suffix;         // per state: its history without the oldest token; -1 for state 0
  std::vector<int64_t> arc_offsets;    // per state + 1: its arcs are [arc_offsets[s], arc_offsets[s + 1])
  std::vector<int32_t> arc_token;      // strictly increasing within a state; vocab_size = end of sentence
  std::vector<float> arc_logprob;      // natural log
  std::vector<int32_t> arc_next;       // the state after the token
};

class NgramLm {
 public:
  static constexpr int32_t kMaxOrder = 64;

  // Checks everything (sizes, ranges, order of tokens, suffix chains that reach state 0, finite scores, a unigram
  // for every token but `blank`) and throws std::invalid_argument naming the array and index of the first fault.
  NgramLm(NgramLmArrays arrays, int32_t blank);

  struct Step {
    float logprob;  // natural log
    int32_t state;
  };
  Step Score(int32_t state, int32_t token) const;  // token in [0, vocab_size]; vocab_size: end of sentence
  // logprob[t], next[t] = Score(state, t) for every t in [0, vocab_size) (the blank's entry: 0 and `state`).
  void ScoreAll(int32_t state, float* logprob, int32_t* next) const;

  int32_t vocab_size() const { return a_.vocab_size; }
  int32_t start_state() const { return a_.start_state; }
  int32_t num_states() const { return static_cast<int32_t>(a_.backoff.size()); }
  size_t num_arcs() const { return a_.arc_token.size(); }
  int32_t order() const { return order_; }  // the longest n-gram: the deepest history + 1

 private:
  int64_t FindArc(int32_t state, int32_t token) const;  // -1 when absent

  NgramLmArrays a_;
  int32_t blank_;
  int32_t order_ = 1;
};

}  // namespace edgeasr
