// What a transducer search reports: the best path with word times and confidences, the N-best list, the word
// lattice, and per-frame signals for an end-pointer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgeasr/lattice.h"

namespace edgeasr {

// One per encoder frame, for the end-pointer.
struct FrameSignal {
  float blank_logprob = 0.f;          // log P(blank) at this frame for the best hypothesis entering it (no penalty)
  int32_t trailing_blank_frames = 0;  // frames, this one included, since the best hypothesis last emitted a token
};

struct WordResult {
  std::string word;
  int32_t start_frame = 0, end_frame = 0;  // frames of the word's first and last token
  float confidence = 0.f;                  // in [0, 1]
};

struct NbestEntry {
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<int32_t> token_frames;         // frame of each token on the hypothesis's best alignment
  double score = 0, acoustic = 0, bias = 0;  // score = acoustic + bias
  int32_t lattice_final = -1;                // the lattice's final node this hypothesis ends in
};

struct SearchResult {
  std::string text;                   // of the best hypothesis
  std::vector<int32_t> tokens;        // its token ids
  std::vector<int32_t> token_frames;  // frame at which each token was emitted (strictly increasing)
  std::vector<WordResult> words;      // its words (empty words skipped)
  double score = 0, acoustic = 0, bias = 0;
  std::vector<NbestEntry> nbest;      // best first, distinct token sequences
  WordLattice lattice;
  std::vector<FrameSignal> frame_signals;
  bool final = false;                 // Finalize() was called: no pending biasing bonus is left in any score
};

}  // namespace edgeasr
