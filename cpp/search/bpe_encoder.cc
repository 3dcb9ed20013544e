#include "edgeasr/bpe_encoder.h"

#include <queue>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace edgeasr {
namespace {

constexpr char kWordStart[] = "\xE2\x96\x81";  // "▁", U+2581 in UTF-8
constexpr char kUnk[] = "<unk>";

// Bytes of the UTF-8 character starting with `lead`; 0 for a byte that cannot start one.
size_t CharBytes(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 0;
}

// A candidate merge, ordered as the Python encoder's heap entries (-score, left, right, merged): best score first,
// then the leftmost pair.
struct Merge {
  double neg_score;
  int left, right;
  std::string merged;
  bool operator>(const Merge& o) const {
    return std::tie(neg_score, left, right, merged) > std::tie(o.neg_score, o.left, o.right, o.merged);
  }
};

}  // namespace

BpeEncoder::BpeEncoder(std::vector<std::string> pieces, std::vector<double> scores) : scores_(std::move(scores)) {
  if (pieces.empty()) throw std::invalid_argument("pieces: the token table is empty");
  if (scores_.size() != pieces.size())
    throw std::invalid_argument("scores: expected one per piece (" + std::to_string(pieces.size()) + "), got " +
                                std::to_string(scores_.size()));
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i] == kUnk) unk_id_ = static_cast<int32_t>(i);
    else if (i != 0) mergeable_.emplace(pieces[i], static_cast<int32_t>(i));
  }
}

std::vector<int32_t> BpeEncoder::Encode(const std::string& text) const {
  std::string joined;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) joined.append(kWordStart).append(text, start, end - start);
    start = end + 1;
  }
  if (joined.empty()) return {};

  std::vector<std::string> symbols;
  for (size_t i = 0; i < joined.size();) {
    const size_t n = CharBytes(static_cast<unsigned char>(joined[i]));
    if (n == 0 || i + n > joined.size()) throw std::invalid_argument("text: not valid UTF-8");
    symbols.emplace_back(joined, i, n);
    i += n;
  }
  const int n = static_cast<int>(symbols.size());
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  std::priority_queue<Merge, std::vector<Merge>, std::greater<Merge>> agenda;
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    std::string merged = symbols[left] + symbols[right];
    const auto it = mergeable_.find(merged);
    if (it != mergeable_.end()) agenda.push({-scores_[size_t(it->second)], left, right, std::move(merged)});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i, i + 1);
  while (!agenda.empty()) {
    const Merge m = agenda.top();
    agenda.pop();
    // Stale when either side has merged since: pieces only grow, so the text no longer matches.
    if (symbols[m.left].empty() || symbols[m.right].empty() || symbols[m.left] + symbols[m.right] != m.merged)
      continue;
    symbols[m.left] = m.merged;
    symbols[m.right].clear();
    next[m.left] = next[m.right];
    if (next[m.right] >= 0) prev[next[m.right]] = m.left;
    consider(prev[m.left], m.left);
    consider(m.left, next[m.left]);
  }

  std::vector<int32_t> out;
  for (const std::string& s : symbols) {
    if (s.empty()) continue;
    const auto it = mergeable_.find(s);
    if (it != mergeable_.end()) {
      out.push_back(it->second);
      continue;
    }
    if (unk_id_ < 0)
      throw std::invalid_argument("text: '" + s + "' is not in the token table, which has no '<unk>' piece");
    if (out.empty() || out.back() != unk_id_) out.push_back(unk_id_);  // a run of unknown characters: one <unk>
  }
  return out;
}

}  // namespace edgeasr
