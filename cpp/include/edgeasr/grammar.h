// A grammar for command and control: the beam search may only emit token sequences that spell one of a list of
// phrases ("yes", "no", "call mum"), or with `repeat` any sequence of them ("five five five two"), the way
// PocketSphinx's JSGF and Vosk's phrase lists restrict their decoders. Unlike biasing, which only favours phrases,
// the grammar forbids everything else: the search picks the phrase the audio fits best, and the empty transcript
// competes with them, so silence still gives nothing; with allow_empty false it does not, and a finished utterance
// is always a phrase that fits in it, silence included (for an application that knows one was said: push-to-talk,
// a prompt). The beam search always keeps its best hypothesis that may end the transcript, so a result exists
// wherever the audio stops.
//
// A trie over the phrases' token sequences; state kStart is the root. A token that continues the current phrase
// does so; at the end of a phrase with `repeat`, a token that starts a phrase starts the next one. So the state is
// a function of the tokens emitted, and every sequence that ends in a final state spells phrases of the list.
// Immutable once built: one grammar can be shared by every stream of a recognizer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgeasr/token_trie.h"

namespace edgeasr {

class Grammar {
 public:
  static constexpr int32_t kStart = 0;
  static constexpr int32_t kRejected = -1;  // Next() of a token the grammar does not allow there

  // Throws std::invalid_argument ("phrases: ...", "phrases[i]: ...") for an empty list, an empty phrase or a
  // negative token id.
  Grammar(const std::vector<std::vector<int32_t>>& phrases, bool repeat, bool allow_empty = true);

  int32_t Next(int32_t state, int32_t token) const;
  // next[t] = Next(state, t) for every t in [0, vocab_size).
  void NextAll(int32_t state, int32_t vocab_size, int32_t* next) const;
  // Whether a transcript may end in `state`: the end of a phrase, or the start (nothing said) when empty is allowed.
  bool IsFinal(int32_t state) const {
    return state == kStart ? allow_empty_ : phrase_end_[static_cast<size_t>(state)] != 0;
  }
  // Whether some token may follow `state` (a longer phrase, or with `repeat` the next phrase after a whole one).
  bool CanContinue(int32_t state) const;

  int32_t num_states() const { return trie_.num_states(); }
  size_t num_phrases() const { return num_phrases_; }  // distinct phrases
  bool repeat() const { return repeat_; }
  bool allow_empty() const { return allow_empty_; }
  int32_t max_token() const { return max_token_; }
  bool UsesToken(int32_t token) const;

 private:
  bool RestartsAt(int32_t state) const { return repeat_ && state != kStart && phrase_end_[size_t(state)] != 0; }

  bool repeat_;
  bool allow_empty_;
  TokenTrie trie_;                   // the phrases' token sequences
  std::vector<uint8_t> phrase_end_;  // per state: a phrase ends there
  size_t num_phrases_ = 0;
  int32_t max_token_ = -1;
};

}  // namespace edgeasr
