// Streaming log-mel filterbank features: kaldi-native-fbank's online extractor behind checks, so bad settings or
// samples throw std::invalid_argument instead of reaching the library (whose own checks abort or are compiled out).
#pragma once

#include <cstdint>
#include <memory>

namespace edgeasr {

// Kaldi-compatible fbank settings; fields not listed keep kaldi-native-fbank's defaults, which are Kaldi's (povey
// window, pre-emphasis 0.97, DC offset removed, FFT size rounded up to a power of two, power spectrum, log with a
// float32-epsilon floor, mel bins from 20 Hz to Nyquist, no energy term). edgeasr.features.FbankConfig mirrors it.
struct FbankSettings {
  int sample_rate = 16000;
  int num_bins = 80;
  float frame_length_ms = 25.0f;
  float frame_shift_ms = 10.0f;
  float dither = 0.0f;
  bool snip_edges = true;

  int window_samples() const;
  int shift_samples() const;
  void Validate() const;  // std::invalid_argument naming the first bad field
};

// Audio in, feature frames out, for one stream. Samples are float32 in [-1, 1] at settings.sample_rate.
class StreamingFbank {
 public:
  explicit StreamingFbank(const FbankSettings& settings);
  ~StreamingFbank();
  StreamingFbank(const StreamingFbank&) = delete;
  StreamingFbank& operator=(const StreamingFbank&) = delete;

  // Appends samples; throws after InputFinished(), for NaN or infinity, and for a peak above 2 (int16-scaled
  // floats: the features would be other than the model's), leaving the stream as it was.
  void AcceptWaveform(const float* samples, int64_t n);
  // No more audio: the last frames become ready (none with snip_edges; the frames that wait on later samples
  // otherwise).
  void InputFinished();
  bool finished() const { return finished_; }

  int num_bins() const { return settings_.num_bins; }
  int64_t frames_ready() const;  // computed and not yet taken
  int64_t frames_taken() const { return taken_; }
  // Copies the next min(max_frames, frames_ready()) frames into out ([n, num_bins], row-major), releases them from
  // the extractor (a long stream keeps no history) and returns n.
  int64_t TakeFrames(int64_t max_frames, float* out);

 private:
  class Impl;
  FbankSettings settings_;
  std::unique_ptr<Impl> impl_;
  int64_t taken_ = 0;
  bool finished_ = false;
};

}  // namespace edgeasr
