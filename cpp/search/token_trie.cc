#include "edgeasr/token_trie.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace edgeasr {

int32_t TokenTrie::Insert(int32_t state, int32_t token) {
  if (!first_child_.empty()) throw std::logic_error("TokenTrie::Insert: the trie is frozen");
  const uint64_t key = (uint64_t(uint32_t(state)) << 32) | uint32_t(token);
  const auto [it, inserted] = edges_.try_emplace(key, num_states());
  if (inserted) {
    parent_.push_back(state);
    token_.push_back(token);
  }
  return it->second;
}

void TokenTrie::Freeze() {
  const size_t n = parent_.size();
  std::vector<int32_t> order(n - 1);
  std::iota(order.begin(), order.end(), 1);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const size_t x = size_t(a), y = size_t(b);
    return parent_[x] != parent_[y] ? parent_[x] < parent_[y] : token_[x] < token_[y];
  });
  first_child_.assign(n + 1, 0);
  for (int32_t c : order) ++first_child_[size_t(parent_[size_t(c)]) + 1];
  std::partial_sum(first_child_.begin(), first_child_.end(), first_child_.begin());
  child_token_.resize(order.size());
  child_state_.resize(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    child_token_[k] = token_[size_t(order[k])];
    child_state_[k] = order[k];
  }
  edges_ = {};
  token_ = {};
}

int32_t TokenTrie::Child(int32_t state, int32_t token) const {
  const auto begin = child_token_.begin() + first_child_[size_t(state)];
  const auto end = child_token_.begin() + first_child_[size_t(state) + 1];
  const auto it = std::lower_bound(begin, end, token);
  return it != end && *it == token ? child_state_[size_t(it - child_token_.begin())] : kNone;
}

}  // namespace edgeasr
