// Sentencepiece-style BPE encoding over a model's token table: text to token ids, as python/edgeasr/tokens.py
// (TokenTable.encode) does it, in native code for the biasing phrases (the Python loop took about 2 µs per
// character, as long as the rest of building a 100-phrase context graph ten times over).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace edgeasr {

class BpeEncoder {
 public:
  // pieces and scores by id (higher scores merge first); id 0 is the blank. The blank and "<unk>" never come out
  // of a merge. Throws std::invalid_argument when the sizes differ or the table is empty.
  BpeEncoder(std::vector<std::string> pieces, std::vector<double> scores);

  // Token ids of UTF-8 text: words split at ASCII spaces (runs collapse), each prefixed with "▁"; starting from
  // single characters, the adjacent pair whose concatenation is the highest-scoring piece merges first (ties: the
  // leftmost pair). A character outside the table becomes "<unk>", a run of them one "<unk>". Throws
  // std::invalid_argument for such a character when the table has no "<unk>", and for invalid UTF-8.
  std::vector<int32_t> Encode(const std::string& text) const;

  int32_t unk_id() const { return unk_id_; }  // -1 when the table has no "<unk>"

 private:
  std::unordered_map<std::string, int32_t> mergeable_;
  std::vector<double> scores_;
  int32_t unk_id_ = -1;
};

}  // namespace edgeasr
