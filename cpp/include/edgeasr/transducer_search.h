// One utterance stream of a transducer search: frames go in chunk by chunk, results come out at any time. Searches
// hold per-stream state only; the scorer and the context graph they use are shared and immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgeasr/search_result.h"

namespace edgeasr {

class TransducerSearch {
 public:
  virtual ~TransducerSearch() = default;

  // enc[num_frames][joiner_dim]: projected encoder frames, continuing the utterance. Throws std::logic_error after
  // Finalize() (call Reset() first). If the scorer throws, the stream is left undefined until Reset().
  virtual void AcceptFrames(const float* enc, size_t num_frames) = 0;
  // End-point: removes every pending (partial-match) biasing bonus from every hypothesis and restarts phrase
  // matching, so no phrase spans an end-point; with an n-gram LM, Result() until the next frame also scores the end
  // of sentence, as Finalize() would there. Decoding may go on.
  virtual void Settle() = 0;
  // End of the utterance: settles; no more frames until Reset().
  virtual void Finalize() = 0;
  // The result so far (before Finalize(), scores include pending biasing bonuses).
  virtual SearchResult Result() const = 0;
  // Starts a new utterance: clears hypotheses, lattice and signals.
  virtual void Reset() = 0;

  virtual const std::vector<FrameSignal>& FrameSignals() const = 0;
  virtual int32_t NumFrames() const = 0;
  virtual bool Finalized() const = 0;
};

}  // namespace edgeasr
