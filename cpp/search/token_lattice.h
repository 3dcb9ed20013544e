// Private to cpp/search: what both searches record while decoding (the token-level lattice of surviving
// hypotheses, the token sequences they carry) and the one place that turns it into a SearchResult.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "edgeasr/context_graph.h"
#include "edgeasr/search_result.h"
#include "edgeasr/token_table.h"
#include "edgeasr/transducer_scorer.h"

namespace edgeasr::search {

inline constexpr int32_t kSettleLabel = -1;  // arc label of a Settle() refund: no token, no frame
inline constexpr double kNegInf = -std::numeric_limits<double>::infinity();

inline double LogAdd(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == kNegInf) return a;
  return a + std::log1p(std::exp(b - a));
}

struct TokenArc {
  int32_t from, to;
  int32_t label;  // a token id, the blank id, or kSettleLabel
  int32_t frame;  // the frame consumed (for a settle arc: frames consumed so far)
  double acoustic, bias;
};

// Nodes are surviving hypotheses, one per key per frame; node ids and arc order are topological because a frame's
// nodes and arcs are all added after the previous frame's. Node 0 is the start.
class TokenLattice {
 public:
  int32_t AddNode(int32_t frame) {
    node_frames_.push_back(frame);
    best_in_.push_back(-1);
    return static_cast<int32_t>(node_frames_.size()) - 1;
  }
  // best: the arc the node's hypothesis came by (its best alignment); the node's other arcs are recombined ones.
  void AddArc(const TokenArc& arc, bool best) {
    if (best) best_in_[size_t(arc.to)] = static_cast<int32_t>(arcs_.size());
    arcs_.push_back(arc);
  }
  void Clear() {
    node_frames_.clear();
    best_in_.clear();
    arcs_.clear();
  }

  int32_t num_nodes() const { return static_cast<int32_t>(node_frames_.size()); }
  int32_t node_frame(int32_t node) const { return node_frames_[size_t(node)]; }
  int32_t best_in(int32_t node) const { return best_in_[size_t(node)]; }
  const std::vector<TokenArc>& arcs() const { return arcs_; }

 private:
  std::vector<int32_t> node_frames_;
  std::vector<int32_t> best_in_;
  std::vector<TokenArc> arcs_;
};

// Token sequences as nodes of a trie, so two hypotheses hold the same sequence exactly when they hold the same id.
// Children are found in an open-addressing table (the word pass of BuildResult inserts a node per token it carries).
class SequenceTrie {
 public:
  static constexpr int32_t kEmpty = 0;
  SequenceTrie() { Clear(); }
  int32_t Find(int32_t seq, int32_t token) const {
    for (size_t i = Hash(seq, token) & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      const int32_t id = slots_[i];
      if (id == kEmpty) return -1;
      if (nodes_[size_t(id)].parent == seq && nodes_[size_t(id)].token == token) return id;
    }
  }
  int32_t Insert(int32_t seq, int32_t token) {
    if (2 * nodes_.size() >= slots_.size()) Grow();
    for (size_t i = Hash(seq, token) & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      int32_t& id = slots_[i];
      if (id == kEmpty) {  // the empty sequence is nobody's child, so its id marks a free slot
        id = static_cast<int32_t>(nodes_.size());
        nodes_.push_back({seq, token});
        return id;
      }
      if (nodes_[size_t(id)].parent == seq && nodes_[size_t(id)].token == token) return id;
    }
  }
  int32_t size() const { return static_cast<int32_t>(nodes_.size()); }  // ids are 0 .. size() - 1
  int32_t parent(int32_t seq) const { return nodes_[size_t(seq)].parent; }
  int32_t token(int32_t seq) const { return nodes_[size_t(seq)].token; }
  std::vector<int32_t> Tokens(int32_t seq) const {
    std::vector<int32_t> out;
    for (; seq != kEmpty; seq = parent(seq)) out.push_back(token(seq));
    return {out.rbegin(), out.rend()};
  }
  void Clear() {
    nodes_.assign(1, {-1, -1});
    slots_.assign(64, kEmpty);
  }

 private:
  struct Node {
    int32_t parent, token;
  };
  static size_t Hash(int32_t seq, int32_t token) {
    const uint64_t x = ((uint64_t(uint32_t(seq)) << 32) | uint32_t(token)) * 0x9E3779B97F4A7C15ull;
    return size_t(x ^ (x >> 29));
  }
  void Grow() {
    slots_.assign(slots_.size() * 2, kEmpty);
    for (size_t id = 1; id < nodes_.size(); ++id)
      for (size_t i = Hash(nodes_[id].parent, nodes_[id].token) & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1))
        if (slots_[i] == kEmpty) {
          slots_[i] = static_cast<int32_t>(id);
          break;
        }
  }
  std::vector<Node> nodes_;     // id -> parent and last token
  std::vector<int32_t> slots_;  // ids by hash of (parent, token); a power of two in size, at most half full
};

struct FinalHyp {
  int32_t node;
  std::vector<int32_t> tokens;
  double acoustic, bias;
};

enum class Confidence {
  kPosterior,   // summed posteriors of lattice arcs with the same word overlapping it in time
  kTokenProbs,  // geometric mean of its tokens' probabilities (a one-path lattice)
};

// finals: best first. frame_signals and `final` are copied into the result. The word lattice keeps the paths within
// lattice_beam of the best and every N-best path, pruned harder (the beam halved, down to the N-best paths alone)
// until it has at most max_arcs arcs; the N-best paths are kept even when they alone need more (token_lattice.cc).
SearchResult BuildResult(const TokenLattice& lattice, const std::vector<FinalHyp>& finals, const TokenTable& tokens,
                         double lattice_beam, size_t max_arcs, Confidence confidence,
                         const std::vector<FrameSignal>& frame_signals, bool final);

// The checks both searches make on their inputs; throws std::invalid_argument naming the argument.
void CheckSearchInputs(const TransducerScorer* scorer, const TokenTable& tokens, const ContextGraph* graph);
// The table from the pieces, with the scorer's blank (validated first, so the error names the scorer).
TokenTable MakeTokenTable(const TransducerScorer* scorer, std::vector<std::string> pieces);

}  // namespace edgeasr::search
