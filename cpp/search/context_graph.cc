#include "edgeasr/context_graph.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>
#include <unordered_map>

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

  // Trie by insertion; edge_bonus[s] = largest per-token bonus of the phrases through s, end_bonus[s] = B of the
  // phrase ending at s (largest weight if given twice).
  std::vector<int32_t> parent{-1}, token{-1};
  std::vector<float> edge_bonus{0.f}, end_bonus{0.f};
  std::unordered_map<uint64_t, int32_t> edges;
  auto key = [](int32_t s, int32_t t) { return (uint64_t(uint32_t(s)) << 32) | uint32_t(t); };
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
      auto [it, inserted] = edges.try_emplace(key(s, t), static_cast<int32_t>(parent.size()));
      if (inserted) {
        parent.push_back(s);
        token.push_back(t);
        edge_bonus.push_back(0.f);
        end_bonus.push_back(0.f);
      }
      s = it->second;
      edge_bonus[size_t(s)] = std::max(edge_bonus[size_t(s)], b);
      max_token_ = std::max(max_token_, t);
      tokens_used_.push_back(t);
    }
    if (end_bonus[size_t(s)] == 0.f) ++num_phrases_;
    end_bonus[size_t(s)] = std::max(end_bonus[size_t(s)], b * static_cast<float>(p.tokens.size()));
  }
  std::sort(tokens_used_.begin(), tokens_used_.end());
  tokens_used_.erase(std::unique(tokens_used_.begin(), tokens_used_.end()), tokens_used_.end());

  // Children in CSR form, sorted by token.
  const size_t n = parent.size();
  std::vector<int32_t> order(n - 1);
  std::iota(order.begin(), order.end(), 1);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return parent[size_t(a)] != parent[size_t(b)] ? parent[size_t(a)] < parent[size_t(b)]
                                                  : token[size_t(a)] < token[size_t(b)];
  });
  first_child_.assign(n + 1, 0);
  for (int32_t c : order) ++first_child_[size_t(parent[size_t(c)]) + 1];
  std::partial_sum(first_child_.begin(), first_child_.end(), first_child_.begin());
  child_token_.resize(order.size());
  child_state_.resize(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    child_token_[k] = token[size_t(order[k])];
    child_state_[k] = order[k];
  }

  // Failure links breadth first, so a state's failure (shallower) is done before the state.
  fail_.assign(n, kRoot);
  pending_.assign(n, 0.f);
  match_.assign(n, 0.f);
  std::vector<int32_t> queue{kRoot};
  for (size_t head = 0; head < queue.size(); ++head) {
    const int32_t u = queue[head];
    for (int32_t k = first_child_[size_t(u)]; k < first_child_[size_t(u) + 1]; ++k) {
      const int32_t t = child_token_[size_t(k)], v = child_state_[size_t(k)];
      int32_t f = kRoot;
      if (u != kRoot) {
        f = fail_[size_t(u)];
        while (f != kRoot && Child(f, t) < 0) f = fail_[size_t(f)];
        const int32_t c = Child(f, t);
        f = c >= 0 ? c : kRoot;
      }
      fail_[size_t(v)] = f;
      pending_[size_t(v)] = pending_[size_t(u)] + edge_bonus[size_t(v)];
      match_[size_t(v)] = end_bonus[size_t(v)] + match_[size_t(f)];
      queue.push_back(v);
    }
  }
}

int32_t ContextGraph::Child(int32_t state, int32_t token) const {
  const auto begin = child_token_.begin() + first_child_[size_t(state)];
  const auto end = child_token_.begin() + first_child_[size_t(state) + 1];
  const auto it = std::lower_bound(begin, end, token);
  if (it == end || *it != token) return -1;
  return child_state_[size_t(it - child_token_.begin())];
}

ContextGraph::Step ContextGraph::Forward(int32_t state, int32_t token) const {
  int32_t s = state, next = kRoot;
  for (;;) {
    const int32_t c = Child(s, token);
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
    for (int32_t k = first_child_[size_t(s)]; k < first_child_[size_t(s) + 1]; ++k) {
      const int32_t t = child_token_[size_t(k)], c = child_state_[size_t(k)];
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
