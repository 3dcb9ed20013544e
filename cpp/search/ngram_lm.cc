#include "edgeasr/ngram_lm.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace edgeasr {

namespace {

[[noreturn]] void Fail(const std::string& what) { throw std::invalid_argument(what); }

std::string At(const char* array, size_t i) { return std::string(array) + "[" + std::to_string(i) + "]"; }

}  // namespace

NgramLm::NgramLm(NgramLmArrays arrays, int32_t blank) : a_(std::move(arrays)), blank_(blank) {
  const int32_t V = a_.vocab_size;
  if (V < 1) Fail("vocab_size: must be >= 1, got " + std::to_string(V));
  if (blank < 0 || blank >= V) Fail("blank: outside the vocabulary, got " + std::to_string(blank));
  const size_t S = a_.backoff.size();
  if (S < 1) Fail("backoff: no states");
  if (S > size_t(INT32_MAX)) Fail("backoff: too many states");
  if (a_.suffix.size() != S) Fail("suffix: " + std::to_string(a_.suffix.size()) + " entries for " +
                                  std::to_string(S) + " states");
  if (a_.arc_offsets.size() != S + 1) Fail("arc_offsets: expected " + std::to_string(S + 1) + " entries");
  const size_t A = a_.arc_token.size();
  if (a_.arc_logprob.size() != A || a_.arc_next.size() != A) Fail("arc_logprob, arc_next: not one per arc");
  if (a_.arc_offsets[0] != 0 || a_.arc_offsets[S] != int64_t(A))
    Fail("arc_offsets: must start at 0 and end at the number of arcs (" + std::to_string(A) + ")");
  if (a_.start_state < 0 || size_t(a_.start_state) >= S) Fail("start_state: out of range");
  if (a_.suffix[0] != -1) Fail("suffix[0]: the empty history has no suffix (-1)");

  std::vector<int32_t> depth(S, 0);
  for (size_t s = 0; s < S; ++s) {
    if (!std::isfinite(a_.backoff[s])) Fail(At("backoff", s) + ": not finite");
    if (s > 0) {
      // Suffixes come earlier, so every chain reaches state 0 and ScoreAll's walk ends.
      if (a_.suffix[s] < 0 || size_t(a_.suffix[s]) >= s) Fail(At("suffix", s) + ": must be a state below " +
                                                                std::to_string(s));
      depth[s] = depth[size_t(a_.suffix[s])] + 1;
      if (depth[s] >= kMaxOrder) Fail(At("suffix", s) + ": histories longer than " + std::to_string(kMaxOrder - 1));
      order_ = std::max(order_, depth[s] + 1);
    }
    const int64_t begin = a_.arc_offsets[s], end = a_.arc_offsets[s + 1];
    if (begin > end) Fail(At("arc_offsets", s + 1) + ": decreasing");
    for (int64_t k = begin; k < end; ++k) {
      const size_t i = size_t(k);
      const int32_t t = a_.arc_token[i];
      if (t < 0 || t > V || t == blank) Fail(At("arc_token", i) + ": " + std::to_string(t) + " is not a token");
      if (k > begin && t <= a_.arc_token[i - 1]) Fail(At("arc_token", i) + ": not increasing within its state");
      if (!std::isfinite(a_.arc_logprob[i])) Fail(At("arc_logprob", i) + ": not finite");
      if (a_.arc_next[i] < 0 || size_t(a_.arc_next[i]) >= S) Fail(At("arc_next", i) + ": not a state");
    }
  }
  // Every token needs a unigram: backing off ends at state 0.
  for (int32_t t = 0; t < V; ++t)
    if (t != blank && FindArc(0, t) < 0) Fail("arc_token: no unigram for token " + std::to_string(t));
  if (FindArc(0, V) < 0) Fail("arc_token: no unigram for the end of sentence");
}

int64_t NgramLm::FindArc(int32_t state, int32_t token) const {
  const auto begin = a_.arc_token.begin() + a_.arc_offsets[size_t(state)];
  const auto end = a_.arc_token.begin() + a_.arc_offsets[size_t(state) + 1];
  const auto it = std::lower_bound(begin, end, token);
  return it != end && *it == token ? int64_t(it - a_.arc_token.begin()) : -1;
}

NgramLm::Step NgramLm::Score(int32_t state, int32_t token) const {
  if (state < 0 || state >= num_states()) throw std::invalid_argument("state: out of range");
  if (token < 0 || token > vocab_size() || token == blank_)
    throw std::invalid_argument("token: " + std::to_string(token) + " is not a token of the LM");
  float logprob = 0.f;
  for (int32_t s = state;; s = a_.suffix[size_t(s)]) {
    const int64_t k = FindArc(s, token);
    if (k >= 0) return {logprob + a_.arc_logprob[size_t(k)], a_.arc_next[size_t(k)]};
    logprob += a_.backoff[size_t(s)];  // state 0 holds every token, so the walk stops there
  }
}

void NgramLm::ScoreAll(int32_t state, float* logprob, int32_t* next) const {
  if (state < 0 || state >= num_states()) throw std::invalid_argument("state: out of range");
  const int32_t V = vocab_size();
  int32_t chain[kMaxOrder];
  int32_t depth = 0;
  for (int32_t s = state; s != 0 && depth < kMaxOrder; s = a_.suffix[size_t(s)]) chain[depth++] = s;
  // From the empty history up: each history's distribution is its suffix's times its backoff, except where it has
  // an n-gram of its own.
  std::fill(logprob, logprob + V, 0.f);
  std::fill(next, next + V, state);
  for (int32_t d = depth; d >= 0; --d) {
    const int32_t s = d == depth ? 0 : chain[d];
    if (d != depth) {
      const float bo = a_.backoff[size_t(s)];
      for (int32_t t = 0; t < V; ++t) logprob[t] += bo;
    }
    for (int64_t k = a_.arc_offsets[size_t(s)]; k < a_.arc_offsets[size_t(s) + 1]; ++k) {
      const int32_t t = a_.arc_token[size_t(k)];
      if (t >= V) continue;  // the end of sentence
      logprob[t] = a_.arc_logprob[size_t(k)];
      next[t] = a_.arc_next[size_t(k)];
    }
  }
  logprob[blank_] = 0.f;
  next[blank_] = state;
}

}  // namespace edgeasr
