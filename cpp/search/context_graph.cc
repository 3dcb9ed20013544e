#include "edgeasr/context_graph.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace edgeasr {

void ContextGraphConfig::Validate() const {
  if (!std::isfinite(bonus_per_token) || bonus_per_token < 0.f)
    throw std::invalid_argument("bonus_per_token: must be finite and >= 0, got " + std::to_string(bonus_per_token));
}

std::string ContextGraphConfig::ToString() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "ContextGraphConfig(bonus_per_token=%g)", static_cast<double>(bonus_per_token));
  return buf;
}

ContextGraph::ContextGraph(const std::vector<BiasPhrase>& phrases, const ContextGraphConfig& config,
                           const std::vector<int32_t>& word_continuations)
    : config_(config) {
  config_.Validate();
  for (int32_t t : word_continuations)
    if (t < 0) throw std::invalid_argument("word_continuations: negative token id " + std::to_string(t));
  word_continuations_ = word_continuations;
  std::sort(word_continuations_.begin(), word_continuations_.end());
  word_continuations_.erase(std::unique(word_continuations_.begin(), word_continuations_.end()),
                            word_continuations_.end());

  // The trie; edge_bonus[s] = largest per-token bonus of the phrases through s, end_bonus[s] = B of the phrase ending
  // at s (largest weight if given twice).
  std::vector<float> edge_bonus{0.f}, end_bonus{0.f};
  for (size_t i = 0; i < phrases.size(); ++i) {
    const BiasPhrase& p = phrases[i];
    const std::string where = "phrases[" + std::to_string(i) + "]";
    if (p.tokens.empty()) throw std::invalid_argument(where + ".tokens: empty phrase");
    if (!std::isfinite(p.weight) || p.weight < 0.f)
      throw std::invalid_argument(where + ".weight: must be finite and >= 0, got " + std::to_string(p.weight));
    for (int32_t t : p.tokens)
      if (t < 0) throw std::invalid_argument(where + ".tokens: negative token id " + std::to_string(t));
    const float b = config_.bonus_per_token * p.weight;
    if (b == 0.f) continue;
    int32_t s = kRoot;
    for (int32_t t : p.tokens) {
      s = trie_.Insert(s, t);
      edge_bonus.resize(size_t(trie_.num_states()), 0.f);
      end_bonus.resize(size_t(trie_.num_states()), 0.f);
      edge_bonus[size_t(s)] = std::max(edge_bonus[size_t(s)], b);
      max_token_ = std::max(max_token_, t);
      tokens_used_.push_back(t);
    }
    if (end_bonus[size_t(s)] == 0.f) ++num_phrases_;
    end_bonus[size_t(s)] = std::max(end_bonus[size_t(s)], b * static_cast<float>(p.tokens.size()));
  }
  std::sort(tokens_used_.begin(), tokens_used_.end());
  tokens_used_.erase(std::unique(tokens_used_.begin(), tokens_used_.end()), tokens_used_.end());

  trie_.Freeze();
  const size_t n = size_t(trie_.num_states());

  // Failure links breadth first, so a state's failure (shallower) is done before the state.
  fail_.assign(n, kRoot);
  pending_.assign(n, 0.f);
  match_.assign(n, 0.f);
  std::vector<int32_t> queue{kRoot};
  for (size_t head = 0; head < queue.size(); ++head) {
    const int32_t u = queue[head];
    for (int32_t k = trie_.first_child(u); k < trie_.first_child(u + 1); ++k) {
      const int32_t t = trie_.child_token(k), v = trie_.child_state(k);
      int32_t f = kRoot;
      if (u != kRoot) {
        f = fail_[size_t(u)];
        while (f != kRoot && trie_.Child(f, t) < 0) f = fail_[size_t(f)];
        const int32_t c = trie_.Child(f, t);
        f = c >= 0 ? c : kRoot;
      }
      fail_[size_t(v)] = f;
      pending_[size_t(v)] = pending_[size_t(u)] + edge_bonus[size_t(v)];
      match_[size_t(v)] = end_bonus[size_t(v)] + match_[size_t(f)];
      queue.push_back(v);
    }
  }
}

ContextGraph::Step ContextGraph::Forward(int32_t state, int32_t token) const {
  int32_t s = state, next = kRoot;
  for (;;) {
    const int32_t c = trie_.Child(s, token);
    if (c >= 0) {
      next = c;
      break;
    }
    if (s == kRoot) break;
    s = fail_[size_t(s)];
  }
  const float taken_back = ContinuesWord(token) ? match_[size_t(state)] : 0.f;
  return {next, pending_[size_t(next)] - pending_[size_t(state)] + match_[size_t(next)] - taken_back};
}

void ContextGraph::ForwardAll(int32_t state, int32_t vocab_size, int32_t* next, float* bonus) const {
  const float refund = -pending_[size_t(state)];
  std::fill(next, next + vocab_size, kRoot);
  std::fill(bonus, bonus + vocab_size, refund);
  // Deepest suffix first; a token already taken by a deeper one keeps it (no child is the root, so next[t] == kRoot
  // means not taken yet). No allocation: this runs for every hypothesis at every frame.
  for (int32_t s = state;; s = fail_[size_t(s)]) {
    for (int32_t k = trie_.first_child(s); k < trie_.first_child(s + 1); ++k) {
      const int32_t t = trie_.child_token(k), c = trie_.child_state(k);
      if (t >= vocab_size) break;
      if (next[t] != kRoot) continue;
      next[t] = c;
      bonus[t] = pending_[size_t(c)] - pending_[size_t(state)] + match_[size_t(c)];
    }
    if (s == kRoot) break;
  }
  // Matches ending here count only before a word boundary: a token that continues the word takes them back.
  if (const float matched = match_[size_t(state)]; matched != 0.f)
    for (int32_t t : word_continuations_) {
      if (t >= vocab_size) break;
      bonus[t] -= matched;
    }
}

double ContextGraph::Score(const std::vector<int32_t>& tokens, bool settle) const {
  double total = 0;
  int32_t s = kRoot;
  for (int32_t t : tokens) {
    const Step step = Forward(s, t);
    total += step.bonus;
    s = step.state;
  }
  if (settle) total += Settle(s).bonus;
  return total;
}

bool ContextGraph::ContinuesWord(int32_t token) const {
  return std::binary_search(word_continuations_.begin(), word_continuations_.end(), token);
}

bool ContextGraph::UsesToken(int32_t token) const {
  return std::binary_search(tokens_used_.begin(), tokens_used_.end(), token);
}

}  // namespace edgeasr
