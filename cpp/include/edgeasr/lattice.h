// The word lattice a search hands on (to the end-pointer, the wire, a cloud rescorer): nodes numbered in topological
// order, arcs labelled with one word and its frames, scores kept as acoustic and biasing parts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace edgeasr {

struct WordArc {
  int32_t from = 0, to = 0;  // from < to
  std::string word;          // "" only on an arc through an utterance without words
  int32_t start_frame = 0;   // frame of the word's first token
  int32_t end_frame = 0;     // frame of its last token
  float acoustic = 0.f;      // log-probabilities of the tokens and blanks the arc covers
  float bias = 0.f;          // biasing bonus collected on the arc (refunds included)
  float posterior = 0.f;     // P(arc | lattice), forward-backward over acoustic + bias

  float score() const { return acoustic + bias; }
};

struct WordLattice {
  std::vector<int32_t> node_frames;  // node id -> frames consumed when the node is reached
  std::vector<WordArc> arcs;         // sorted by (from, to)
  int32_t start = 0;
  std::vector<int32_t> finals;       // final nodes, final weight 0
  // The lattice beam it was pruned with: the configured one, or where an arc budget forced it, a smaller one (the
  // paths within it of the best, and the N-best paths) or 0 (only the N-best paths).
  float beam = std::numeric_limits<float>::infinity();

  int32_t num_nodes() const { return static_cast<int32_t>(node_frames.size()); }

  // Arc indices of the highest-scoring path from start to a final node (empty when start is final or no path).
  std::vector<int32_t> BestPath() const;
  // Number of distinct start-to-final paths (a double: it grows exponentially with length).
  double CountPaths() const;
  // A simple measure of what sending the lattice costs, not the wire format: an 8-byte header, 4 bytes per final,
  // each distinct word once (bytes + 1), and 20 bytes per arc (from, to, word index, score: 4 each; frames: 2 each).
  size_t SerializedSize() const;
  // Sets every arc's posterior: exp(alpha(from) + score + beta(to) - total) in the log semiring.
  void ComputePosteriors();
};

}  // namespace edgeasr
