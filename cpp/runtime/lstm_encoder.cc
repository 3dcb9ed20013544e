#include "edgeasr/lstm_encoder.h"

#include "activations.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace edgeasr {
namespace {

constexpr float kLayerNormEps = 1e-5f;  // nn.LayerNorm's default
// Steps per GEMM: the input projections of this many steps run as one matrix product, which bounds the scratch
// whatever the call's length. Results do not depend on it (every row is computed on its own).
constexpr size_t kStepsPerBlock = kMaxGemmRows;


std::vector<float> SumOf(std::vector<float> a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

}  // namespace

LstmEncoder::LstmEncoder(const TransducerConfig& config, TensorReader& tensors, const KernelSet& kernels)
    : num_features_(config.num_features),
      stack_(config.stack),
      d_model_(config.d_model),
      hidden_(config.hidden),
      kernels_(&kernels),
      input_proj_(tensors.TakeLinear("encoder.input_proj.weight", d_model_, stack_ * num_features_,
                                     "encoder.input_proj.bias")),
      norm_weight_(tensors.Float("encoder.input_norm.weight", {d_model_})),
      norm_bias_(tensors.Float("encoder.input_norm.bias", {d_model_})) {
  const size_t gates = 4 * hidden_;
  for (int i = 0; i < config.num_layers; ++i) {
    const std::string p = "encoder.layers." + std::to_string(i) + ".";
    // Both gate biases are added to every step's input projection, so they fold into one.
    std::vector<float> bias = SumOf(tensors.Float(p + "bias_ih_l0", {gates}), tensors.Float(p + "bias_hh_l0", {gates}));
    Linear input = tensors.TakeLinear(p + "weight_ih_l0", gates, d_model_, std::move(bias));
    Linear recurrent = tensors.TakeLinear(p + "weight_hh_l0", gates, d_model_, std::vector<float>());
    Linear project = tensors.TakeLinear(p + "weight_hr_l0", d_model_, hidden_, std::vector<float>());
    layers_.push_back(Layer{std::move(input), std::move(recurrent), std::move(project)});
  }
}

EncoderState LstmEncoder::InitState() const {
  EncoderState s;
  s.h.assign(layers_.size() * d_model_, 0.0f);
  s.c.assign(layers_.size() * hidden_, 0.0f);
  return s;
}

void LstmEncoder::Encode(const float* feats, size_t frames, EncoderState& state, std::vector<float>* out) const {
  if (!out) throw std::invalid_argument("out: must not be null");
  if (state.h.size() != layers_.size() * d_model_ || state.c.size() != layers_.size() * hidden_ ||
      state.pending.size() % num_features_ != 0 || state.pending.size() >= stack_ * num_features_)
    throw std::invalid_argument("state: not a state of this encoder (h " + std::to_string(state.h.size()) +
                                ", c " + std::to_string(state.c.size()) + ", pending " +
                                std::to_string(state.pending.size()) + " values)");
  if (!feats && frames > 0) throw std::invalid_argument("feats: null with " + std::to_string(frames) + " frames");
  // Float and quantized weights alike refuse what the quantized path cannot take.
  for (size_t i = 0; i < frames * num_features_; ++i)
    if (!std::isfinite(feats[i]))
      throw std::invalid_argument("feats: non-finite value at frame " + std::to_string(i / num_features_) +
                                  ", bin " + std::to_string(i % num_features_));
  const size_t step_values = stack_ * num_features_;
  const size_t pending = state.pending.size() / num_features_;
  const size_t steps = (pending + frames) / stack_;
  if (steps == 0) {
    state.pending.insert(state.pending.end(), feats, feats + frames * num_features_);
    out->clear();
    return;
  }

  // Steps are consecutive frames, so feats already form the [steps][stack * F] input; only frames left from the
  // previous call need a copy in front.
  const float* input = feats;
  std::vector<float> joined;
  if (pending > 0) {
    joined = state.pending;
    joined.insert(joined.end(), feats, feats + (steps * stack_ - pending) * num_features_);
    input = joined.data();
  }
  // Work on a copy, so that a throw leaves the caller's state as it was.
  EncoderState next;
  next.h = state.h;
  next.c = state.c;
  out->resize(steps * d_model_);
  for (size_t s = 0; s < steps; s += kStepsPerBlock) {
    const size_t n = std::min(kStepsPerBlock, steps - s);
    EncodeSteps(input + s * step_values, n, next, out->data() + s * d_model_);
  }
  const size_t used = steps * stack_ - pending;  // frames of feats that went into steps
  next.pending.assign(feats + used * num_features_, feats + frames * num_features_);
  state = std::move(next);
}

void LstmEncoder::EncodeSteps(const float* steps, size_t n, EncoderState& state, float* out) const {
  const size_t d = d_model_, hid = hidden_, gates = 4 * hid;
  input_proj_.Apply(steps, n, out, *kernels_);
  for (size_t t = 0; t < n; ++t) {
    float* x = out + t * d;
    float mean = 0.0f;
    for (size_t i = 0; i < d; ++i) mean += x[i];
    mean /= static_cast<float>(d);
    float var = 0.0f;
    for (size_t i = 0; i < d; ++i) var += (x[i] - mean) * (x[i] - mean);
    var /= static_cast<float>(d);  // biased, as LayerNorm uses
    const float inv = 1.0f / std::sqrt(var + kLayerNormEps);
    for (size_t i = 0; i < d; ++i) x[i] = (x[i] - mean) * inv * norm_weight_[i] + norm_bias_[i];
  }

  // Per-thread scratch (streams decode on several threads): fresh zeroed vectors cost a memset of the whole block's
  // gate pre-activations per call. Every element is written before it is read.
  thread_local std::vector<float> pre, rec, cell_out, h_new;
  pre.resize(n * gates);
  rec.resize(gates);
  cell_out.resize(hid);
  h_new.resize(d);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    float* h = state.h.data() + l * d;
    float* c = state.c.data() + l * hid;
    // The layer's input is the whole block's output of the layer below: one GEMM, then the recurrence step by step.
    layer.input.Apply(out, n, pre.data(), *kernels_);
    for (size_t t = 0; t < n; ++t) {
      layer.recurrent.Apply(h, 1, rec.data(), *kernels_);
      const float* g = pre.data() + t * gates;
      for (size_t j = 0; j < gates; ++j) rec[j] += g[j];
      LstmCellUpdate(rec.data(), hid, c, cell_out.data());
      layer.project.Apply(cell_out.data(), 1, h_new.data(), *kernels_);
      std::copy(h_new.begin(), h_new.end(), h);
      float* x = out + t * d;
      for (size_t i = 0; i < d; ++i) x[i] += h_new[i];  // residual
    }
  }
}

}  // namespace edgeasr
