// Token pieces by id, sentencepiece style: a piece starting with "▁" (U+2581) begins a new word. Turns token ids
// into text the way python/edgeasr/tokens.py (TokenTable.decode) does, so native and Python transcripts agree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace edgeasr {

class TokenTable {
 public:
  // Throws std::invalid_argument ("pieces: ...", "blank_id: ...") on an empty table, an empty piece or a blank
  // outside the table.
  TokenTable(std::vector<std::string> pieces, int32_t blank_id);

  int32_t size() const { return static_cast<int32_t>(pieces_.size()); }
  int32_t blank_id() const { return blank_id_; }
  const std::string& piece(int32_t id) const;  // throws std::out_of_range
  bool StartsWord(int32_t id) const { return starts_word_[static_cast<size_t>(id)] != 0; }  // id must be valid

  // Pieces joined, "▁" turned into a word break, blanks dropped, single spaces, no leading or trailing space.
  std::string Text(const int32_t* ids, size_t n) const;
  std::string Text(const std::vector<int32_t>& ids) const { return Text(ids.data(), ids.size()); }

 private:
  std::vector<std::string> pieces_;
  std::vector<uint8_t> starts_word_;
  int32_t blank_id_;
};

}  // namespace edgeasr
