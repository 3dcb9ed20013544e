// A trie over token sequences, built by inserting the sequences and then frozen: the children of each state lie
// together, sorted by token (CSR), so a child is found by bisection and a state's children are one contiguous run.
// The biasing graph (context_graph.h) and the grammar (grammar.h) are this trie plus their own per-state arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace edgeasr {

class TokenTrie {
 public:
  static constexpr int32_t kRoot = 0;
  static constexpr int32_t kNone = -1;  // Child() of a token the state has no child for

  // Building: the child of `state` for `token`, made if missing (states are numbered as they are made, the root 0).
  int32_t Insert(int32_t state, int32_t token);
  // Lays the children out by state and token; Insert() may not be called after it.
  void Freeze();

  int32_t Child(int32_t state, int32_t token) const;
  // The children of `state` are entries [first_child(state), first_child(state + 1)) of child_token / child_state.
  int32_t first_child(int32_t state) const { return first_child_[size_t(state)]; }
  int32_t child_token(int32_t k) const { return child_token_[size_t(k)]; }
  int32_t child_state(int32_t k) const { return child_state_[size_t(k)]; }
  bool HasChildren(int32_t state) const { return first_child(state) < first_child(state + 1); }
  int32_t num_states() const { return static_cast<int32_t>(parent_.size()); }

 private:
  std::vector<int32_t> parent_{-1}, token_{-1};  // while building
  std::unordered_map<uint64_t, int32_t> edges_;  // while building
  std::vector<int32_t> first_child_, child_token_, child_state_;
};

}  // namespace edgeasr
