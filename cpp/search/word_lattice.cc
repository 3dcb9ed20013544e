#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "edgeasr/lattice.h"

namespace edgeasr {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double LogAdd(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == kNegInf) return a;
  return a + std::log1p(std::exp(b - a));
}

}  // namespace

std::vector<int32_t> WordLattice::BestPath() const {
  const size_t n = node_frames.size();
  if (n == 0) return {};
  std::vector<double> best(n, kNegInf);
  std::vector<int32_t> back(n, -1);
  best[size_t(start)] = 0;
  for (size_t k = 0; k < arcs.size(); ++k) {  // arcs are sorted by from, and from < to
    const WordArc& a = arcs[k];
    const double s = best[size_t(a.from)] + a.score();
    if (s > best[size_t(a.to)]) {
      best[size_t(a.to)] = s;
      back[size_t(a.to)] = static_cast<int32_t>(k);
    }
  }
  int32_t end = -1;
  for (int32_t f : finals)
    if (end < 0 || best[size_t(f)] > best[size_t(end)]) end = f;
  std::vector<int32_t> path;
  for (int32_t v = end; v >= 0 && back[size_t(v)] >= 0; v = arcs[size_t(back[size_t(v)])].from)
    path.push_back(back[size_t(v)]);
  std::reverse(path.begin(), path.end());
  return path;
}

double WordLattice::CountPaths() const {
  std::vector<double> paths(node_frames.size(), 0.0);
  if (paths.empty()) return 0;
  paths[size_t(start)] = 1;
  for (const WordArc& a : arcs) paths[size_t(a.to)] += paths[size_t(a.from)];
  double total = 0;
  for (int32_t f : finals) total += paths[size_t(f)];
  return total;
}

size_t WordLattice::SerializedSize() const {
  std::unordered_set<std::string> words;
  size_t bytes = 8 + 4 * finals.size() + 20 * arcs.size();
  for (const WordArc& a : arcs)
    if (words.insert(a.word).second) bytes += a.word.size() + 1;
  return bytes;
}

void WordLattice::ComputePosteriors() {
  const size_t n = node_frames.size();
  if (n == 0) return;
  std::vector<double> alpha(n, kNegInf), beta(n, kNegInf);
  alpha[size_t(start)] = 0;
  for (const WordArc& a : arcs) alpha[size_t(a.to)] = LogAdd(alpha[size_t(a.to)], alpha[size_t(a.from)] + a.score());
  for (int32_t f : finals) beta[size_t(f)] = 0;
  for (auto it = arcs.rbegin(); it != arcs.rend(); ++it)
    beta[size_t(it->from)] = LogAdd(beta[size_t(it->from)], it->score() + beta[size_t(it->to)]);
  const double total = beta[size_t(start)];
  for (WordArc& a : arcs) {
    const double p = total == kNegInf ? 0.0 : std::exp(alpha[size_t(a.from)] + a.score() + beta[size_t(a.to)] - total);
    a.posterior = static_cast<float>(std::min(1.0, p));
  }
}

}  // namespace edgeasr
