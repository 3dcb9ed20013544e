#include "edgeasr/grammar.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace edgeasr {

static_assert(Grammar::kRejected == TokenTrie::kNone && Grammar::kStart == TokenTrie::kRoot);

Grammar::Grammar(const std::vector<std::vector<int32_t>>& phrases, bool repeat, bool allow_empty)
    : repeat_(repeat), allow_empty_(allow_empty) {
  if (phrases.empty()) throw std::invalid_argument("phrases: a grammar needs at least one phrase");
  phrase_end_.assign(1, 0);
  for (size_t i = 0; i < phrases.size(); ++i) {
    const std::vector<int32_t>& p = phrases[i];
    if (p.empty()) throw std::invalid_argument("phrases[" + std::to_string(i) + "]: empty");
    int32_t s = kStart;
    for (int32_t t : p) {
      if (t < 0)
        throw std::invalid_argument("phrases[" + std::to_string(i) + "]: negative token id " + std::to_string(t));
      max_token_ = std::max(max_token_, t);
      s = trie_.Insert(s, t);
    }
    phrase_end_.resize(size_t(trie_.num_states()), 0);
    num_phrases_ += phrase_end_[size_t(s)] == 0;
    phrase_end_[size_t(s)] = 1;
  }
  trie_.Freeze();
}

int32_t Grammar::Next(int32_t state, int32_t token) const {
  if (state < 0 || state >= num_states()) throw std::invalid_argument("state: out of range");
  const int32_t child = trie_.Child(state, token);
  return child != kRejected || !RestartsAt(state) ? child : trie_.Child(kStart, token);
}

bool Grammar::CanContinue(int32_t state) const {
  if (state < 0 || state >= num_states()) throw std::invalid_argument("state: out of range");
  return trie_.HasChildren(state) || RestartsAt(state);
}

void Grammar::NextAll(int32_t state, int32_t vocab_size, int32_t* next) const {
  if (state < 0 || state >= num_states()) throw std::invalid_argument("state: out of range");
  std::fill(next, next + vocab_size, kRejected);
  auto fill_children = [&](int32_t s) {
    for (int32_t k = trie_.first_child(s); k < trie_.first_child(s + 1); ++k) {
      const int32_t t = trie_.child_token(k);
      if (t < vocab_size && next[t] == kRejected) next[t] = trie_.child_state(k);
    }
  };
  fill_children(state);  // continuing the phrase comes first
  if (RestartsAt(state)) fill_children(kStart);
}

bool Grammar::UsesToken(int32_t token) const {
  for (int32_t s = 0; s < num_states(); ++s)
    if (trie_.Child(s, token) != kRejected) return true;
  return false;
}

}  // namespace edgeasr
