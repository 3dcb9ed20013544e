#include "edgeasr/streaming_fbank.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "kaldi-native-fbank/csrc/online-feature.h"

namespace edgeasr {
namespace {

// Louder than this is not [-1, 1] audio (resampling may overshoot full scale a little; int16-scaled floats are far
// above). Such input would shift every log-mel value by about 20.8.
constexpr float kMaxAbsSample = 2.0f;
// The extractor takes int32 counts; longer inputs go in pieces.
constexpr int64_t kMaxPiece = int64_t{1} << 24;

std::string Num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

int PaddedWindow(int samples) {
  int n = 1;
  while (n < samples) n *= 2;
  return n;
}

// Kaldi's mel filterbank as the library builds it (the same float expressions): triangles evenly spaced in mel from
// 20 Hz to Nyquist, each over the FFT bins whose mel lies strictly inside it. A triangle without a bin is Kaldi's
// "num_mel_bins too large" error; with the library's checks compiled out it would read before its vector (valgrind
// showed it), so too many bins for the window is refused here.
void CheckMelBins(const FbankSettings& s) {
  constexpr float kLowHz = 20.0f;
  const float nyquist = 0.5f * static_cast<float>(s.sample_rate);
  if (!(nyquist > kLowHz))
    throw std::invalid_argument("sample_rate: the mel bins start at 20 Hz, so it must exceed 40 Hz, got " +
                                std::to_string(s.sample_rate));
  auto mel = [](float hz) { return 1127.0f * logf(1.0f + hz / 700.0f); };
  const int padded = PaddedWindow(s.window_samples());
  const float bin_width = static_cast<float>(s.sample_rate) / static_cast<float>(padded);
  std::vector<float> fft_mel(static_cast<size_t>(padded / 2));
  for (size_t i = 0; i < fft_mel.size(); ++i) fft_mel[i] = mel(bin_width * static_cast<float>(i));
  const float low = mel(kLowHz), delta = (mel(nyquist) - low) / static_cast<float>(s.num_bins + 1);
  for (int b = 0; b < s.num_bins; ++b) {
    const float left = low + static_cast<float>(b) * delta, right = low + static_cast<float>(b + 2) * delta;
    const auto first = std::upper_bound(fft_mel.begin(), fft_mel.end(), left);
    if (first == fft_mel.end() || !(*first < right))
      throw std::invalid_argument("num_bins: " + std::to_string(s.num_bins) + " mel bins are too many for a " +
                                  std::to_string(s.window_samples()) + "-sample window at " +
                                  std::to_string(s.sample_rate) + " Hz (bin " + std::to_string(b) +
                                  " holds no FFT bin); use fewer bins or a longer frame");
  }
}

}  // namespace

int FbankSettings::window_samples() const {
  return static_cast<int>(std::lround(sample_rate * static_cast<double>(frame_length_ms) / 1000.0));
}

int FbankSettings::shift_samples() const {
  return static_cast<int>(std::lround(sample_rate * static_cast<double>(frame_shift_ms) / 1000.0));
}

void FbankSettings::Validate() const {
  if (sample_rate <= 0 || sample_rate > 384000)
    throw std::invalid_argument("sample_rate: must be in [1, 384000], got " + std::to_string(sample_rate));
  if (num_bins < 3 || num_bins > 256)  // Kaldi's mel banks need 3
    throw std::invalid_argument("num_bins: must be in [3, 256], got " + std::to_string(num_bins));
  if (!std::isfinite(frame_length_ms) || !std::isfinite(frame_shift_ms) || !(frame_shift_ms > 0) ||
      frame_shift_ms > frame_length_ms)
    throw std::invalid_argument("frame_shift_ms: must be in (0, frame_length_ms], got " + Num(frame_shift_ms));
  // The library's FFT crashes on 2 points (found by fuzzing the settings), and no speech front end frames fewer
  // than 16 samples (1 ms at 16 kHz) or more than a second.
  if (window_samples() < 16 || frame_length_ms > 1000.0f)
    throw std::invalid_argument("frame_length_ms: must give 16 or more samples and be <= 1000, got " +
                                Num(frame_length_ms) + " (" + std::to_string(window_samples()) + " samples)");
  if (shift_samples() < 1)
    throw std::invalid_argument("frame_shift_ms: must give at least one sample, got " + Num(frame_shift_ms));
  if (!std::isfinite(dither) || dither < 0) throw std::invalid_argument("dither: must be >= 0, got " + Num(dither));
  CheckMelBins(*this);
}

class StreamingFbank::Impl {
 public:
  explicit Impl(const knf::FbankOptions& opts) : fbank(opts) {}
  knf::OnlineFbank fbank;
};

StreamingFbank::StreamingFbank(const FbankSettings& settings) : settings_(settings) {
  settings_.Validate();
  knf::FbankOptions opts;
  opts.frame_opts.samp_freq = static_cast<float>(settings_.sample_rate);
  opts.frame_opts.frame_length_ms = settings_.frame_length_ms;
  opts.frame_opts.frame_shift_ms = settings_.frame_shift_ms;
  opts.frame_opts.dither = settings_.dither;
  opts.frame_opts.snip_edges = settings_.snip_edges;
  opts.frame_opts.round_to_power_of_two = true;  // the library's FFT takes powers of two only (else it exits)
  opts.mel_opts.num_bins = settings_.num_bins;
  impl_ = std::make_unique<Impl>(opts);
}

StreamingFbank::~StreamingFbank() = default;

void StreamingFbank::AcceptWaveform(const float* samples, int64_t n) {
  if (finished_) throw std::invalid_argument("samples: the stream's input is finished; create a new stream");
  if (n < 0) throw std::invalid_argument("samples: negative count");
  if (n == 0) return;
  float peak = 0.0f;
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(samples[i]);
    finite = finite && std::isfinite(a);
    peak = std::max(peak, a);
  }
  if (!finite) throw std::invalid_argument("samples: contains NaN or infinity");
  if (peak > kMaxAbsSample)
    throw std::invalid_argument("samples: peak " + Num(std::round(peak * 10) / 10) +
                                " is not audio in [-1, 1]; int16-scaled samples must be divided by 32768");
  const float rate = static_cast<float>(settings_.sample_rate);
  for (int64_t at = 0; at < n; at += kMaxPiece)
    impl_->fbank.AcceptWaveform(rate, samples + at, static_cast<int32_t>(std::min(kMaxPiece, n - at)));
}

void StreamingFbank::InputFinished() {
  if (finished_) return;
  impl_->fbank.InputFinished();
  finished_ = true;
}

int64_t StreamingFbank::frames_ready() const { return impl_->fbank.NumFramesReady() - taken_; }

int64_t StreamingFbank::TakeFrames(int64_t max_frames, float* out) {
  if (max_frames < 0) throw std::invalid_argument("max_frames: must be >= 0, got " + std::to_string(max_frames));
  const int64_t n = std::min(max_frames, frames_ready());
  const size_t row = static_cast<size_t>(settings_.num_bins) * sizeof(float);
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * settings_.num_bins, impl_->fbank.GetFrame(static_cast<int32_t>(taken_ + i)), row);
  if (n) {
    impl_->fbank.Pop(static_cast<int32_t>(n));
    taken_ += n;
  }
  return n;
}

}  // namespace edgeasr
