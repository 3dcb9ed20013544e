#include "edgeasr/table_scorer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace edgeasr {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64 finalizer
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

void TableScorerOptions::Validate() const {
  if (vocab_size < 2) throw std::invalid_argument("vocab_size: must be >= 2, got " + std::to_string(vocab_size));
  if (blank_id < 0 || blank_id >= vocab_size)
    throw std::invalid_argument("blank_id: " + std::to_string(blank_id) + " is outside [0, vocab_size)");
  if (context_size < 1) throw std::invalid_argument("context_size: must be >= 1, got " + std::to_string(context_size));
  if (!std::isfinite(scale) || scale < 0.f) throw std::invalid_argument("scale: must be finite and >= 0");
  if (!std::isfinite(blank_bias)) throw std::invalid_argument("blank_bias: must be finite");
}

TableScorer::TableScorer(const TableScorerOptions& options) : options_(options) { options_.Validate(); }

void TableScorer::Set(int32_t frame, const std::vector<int32_t>& context, const std::vector<float>& logits) {
  if (frame < 0) throw std::invalid_argument("frame: must be >= 0");
  if (context.size() != size_t(options_.context_size))
    throw std::invalid_argument("context: expected " + std::to_string(options_.context_size) + " token ids");
  if (logits.size() != size_t(options_.vocab_size))
    throw std::invalid_argument("logits: expected " + std::to_string(options_.vocab_size) + " values");
  std::vector<int32_t> key{frame};
  key.insert(key.end(), context.begin(), context.end());
  table_[key] = logits;
}

std::vector<float> TableScorer::EncoderFrames(int32_t first_frame, int32_t count) const {
  std::vector<float> enc(size_t(std::max(count, 0)) * size_t(joiner_dim()), 0.f);
  for (int32_t i = 0; i < count; ++i) enc[size_t(i) * size_t(joiner_dim())] = static_cast<float>(first_frame + i);
  return enc;
}

std::vector<float> TableScorer::LogProbs(int32_t frame, const std::vector<int32_t>& context) const {
  if (context.size() != size_t(options_.context_size))
    throw std::invalid_argument("context: expected " + std::to_string(options_.context_size) + " token ids");
  std::vector<float> dec(context.begin(), context.end()), enc = EncoderFrames(frame, 1);
  std::vector<float> out(size_t(options_.vocab_size));
  JointLogProbs(enc.data(), dec.data(), 1, out.data());
  return out;
}

void TableScorer::DecoderProjected(const int32_t* contexts, size_t n, float* dec) const {
  for (size_t i = 0; i < n * size_t(options_.context_size); ++i) dec[i] = static_cast<float>(contexts[i]);
}

void TableScorer::Logits(int32_t frame, const int32_t* context, float* out) const {
  std::vector<int32_t> key{frame};
  key.insert(key.end(), context, context + options_.context_size);
  const auto it = table_.find(key);
  if (it != table_.end()) {
    std::copy(it->second.begin(), it->second.end(), out);
    return;
  }
  uint64_t h = Mix(options_.seed ^ Mix(uint64_t(uint32_t(frame))));
  for (int32_t i = 0; i < options_.context_size; ++i) h = Mix(h ^ uint64_t(uint32_t(context[i])));
  for (int32_t k = 0; k < options_.vocab_size; ++k) {
    const double u = double(Mix(h ^ uint64_t(k)) >> 11) * 0x1.0p-53;  // [0, 1)
    out[k] = static_cast<float>((2 * u - 1) * options_.scale);
  }
  out[options_.blank_id] += options_.blank_bias;
}

void TableScorer::JointLogProbs(const float* enc_frame, const float* dec, size_t n, float* log_probs) const {
  const int32_t frame = static_cast<int32_t>(std::lrint(enc_frame[0]));
  const size_t v = size_t(options_.vocab_size), c = size_t(options_.context_size);
  std::vector<int32_t> context(c);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < c; ++j) context[j] = static_cast<int32_t>(std::lrint(dec[i * c + j]));
    float* out = log_probs + i * v;
    Logits(frame, context.data(), out);
    const float mx = *std::max_element(out, out + v);
    double sum = 0;
    for (size_t k = 0; k < v; ++k) sum += std::exp(double(out[k] - mx));
    const float log_z = mx + static_cast<float>(std::log(sum));
    for (size_t k = 0; k < v; ++k) out[k] -= log_z;
  }
}

}  // namespace edgeasr
