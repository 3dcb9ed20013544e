#include "edgeasr/token_table.h"

#include <stdexcept>
#include <utility>

namespace edgeasr {
namespace {

constexpr char kWordStart[] = "\xE2\x96\x81";  // "▁", U+2581 in UTF-8
constexpr size_t kWordStartBytes = 3;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

TokenTable::TokenTable(std::vector<std::string> pieces, int32_t blank_id)
    : pieces_(std::move(pieces)), blank_id_(blank_id) {
  if (pieces_.empty()) throw std::invalid_argument("pieces: the token table is empty");
  if (blank_id < 0 || static_cast<size_t>(blank_id) >= pieces_.size())
    throw std::invalid_argument("blank_id: " + std::to_string(blank_id) + " is outside [0, " +
                                std::to_string(pieces_.size()) + ")");
  starts_word_.resize(pieces_.size());
  for (size_t i = 0; i < pieces_.size(); ++i) {
    if (pieces_[i].empty()) throw std::invalid_argument("pieces[" + std::to_string(i) + "]: empty piece");
    starts_word_[i] = pieces_[i].compare(0, kWordStartBytes, kWordStart) == 0;
  }
}

const std::string& TokenTable::piece(int32_t id) const {
  if (id < 0 || id >= size()) throw std::out_of_range("token id " + std::to_string(id) + " is outside the table");
  return pieces_[static_cast<size_t>(id)];
}

std::string TokenTable::Text(const int32_t* ids, size_t n) const {
  std::string joined;
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] == blank_id_) continue;
    const std::string& p = piece(ids[i]);
    for (size_t j = 0; j < p.size();) {
      if (p.compare(j, kWordStartBytes, kWordStart) == 0) {
        joined += ' ';
        j += kWordStartBytes;
      } else {
        joined += p[j++];
      }
    }
  }
  // Single spaces, none at the ends.
  std::string text;
  bool pending_space = false;
  for (char c : joined) {
    if (IsSpace(c)) {
      pending_space = !text.empty();
      continue;
    }
    if (pending_space) text += ' ';
    pending_space = false;
    text += c;
  }
  return text;
}

}  // namespace edgeasr
