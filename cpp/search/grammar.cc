#include "edgeasr/grammar.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace edgeasr {

Grammar::Grammar(const std::vector<std::vector<int32_t>>& phrases, bool repeat) : repeat_(repeat) {
  if (phrases.empty()) throw std::invalid_argument("phrases: a grammar needs at least one phrase");
  // Trie by insertion, then the children laid out by state and token.
  std::vector<int32_t> parent{-1}, token{-1};
  std::vector<uint8_t> ends{1};  // the start is final: the empty transcript is allowed
  std::unordered_map<uint64_t, int32_t> edges;
  auto key = [](int32_t s, int32_t t) { return (uint64_t(uint32_t(s)) << 32) | uint32_t(t); };
  for (size_t i = 0; i < phrases.size(); ++i) {
    const std::vector<int32_t>& p = phrases[i];
    if (p.empty()) throw std::invalid_argument("phrases[" + std::to_string(i) + "]: empty");
    int32_t s = kStart;
    for (int32_t t : p) {
      if (t < 0)
        throw std::invalid_argument("phrases[" + std::to_string(i) + "]: negative token id " + std::to_string(t));
      max_token_ = std::max(max_token_, t);
      const auto [it, inserted] = edges.try_emplace(key(s, t), static_cast<int32_t>(parent.size()));
      if (inserted) {
        parent.push_back(s);
        token.push_back(t);
        ends.push_back(0);
      }
      s = it->second;
    }
    num_phrases_ += ends[size_t(s)] == 0;
    ends[size_t(s)] = 2;  // a phrase ends here
  }
  const size_t n = parent.size();
  std::vector<int32_t> order(n - 1);
  for (size_t i = 1; i < n; ++i) order[i - 1] = int32_t(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const size_t x = size_t(a), y = size_t(b);
    return parent[x] != parent[y] ? parent[x] < parent[y] : token[x] < token[y];
  });
  first_child_.assign(n + 1, 0);
  for (int32_t c : order) ++first_child_[size_t(parent[size_t(c)]) + 1];
  for (size_t s = 0; s < n; ++s) first_child_[s + 1] += first_child_[s];
  for (int32_t c : order) {
    child_token_.push_back(token[size_t(c)]);
    child_state_.push_back(c);
  }
  final_ = std::move(ends);
}

int32_t Grammar::Child(int32_t state, int32_t token) const {
  const auto begin = child_token_.begin() + first_child_[size_t(state)];
  const auto end = child_token_.begin() + first_child_[size_t(state) + 1];
  const auto it = std::lower_bound(begin, end, token);
  return it != end && *it == token ? child_state_[size_t(it - child_token_.begin())] : kRejected;
}

int32_t Grammar::Next(int32_t state, int32_t token) const {
  if (state < 0 || state >= num_states()) throw std::invalid_argument("state: out of range");
  const int32_t child = Child(state, token);
  if (child != kRejected || !repeat_ || state == kStart || final_[size_t(state)] != 2) return child;
  return Child(kStart, token);  // the phrase is complete: the token may start the next one
}

void Grammar::NextAll(int32_t state, int32_t vocab_size, int32_t* next) const {
  if (state < 0 || state >= num_states()) throw std::invalid_argument("state: out of range");
  std::fill(next, next + vocab_size, kRejected);
  auto fill_children = [&](int32_t s) {
    for (int32_t c = first_child_[size_t(s)]; c < first_child_[size_t(s) + 1]; ++c) {
      const int32_t t = child_token_[size_t(c)];
      if (t < vocab_size && next[t] == kRejected) next[t] = child_state_[size_t(c)];
    }
  };
  fill_children(state);  // continuing the phrase comes first
  if (repeat_ && state != kStart && final_[size_t(state)] == 2) fill_children(kStart);
}

bool Grammar::UsesToken(int32_t token) const {
  return std::find(child_token_.begin(), child_token_.end(), token) != child_token_.end();
}

}  // namespace edgeasr
