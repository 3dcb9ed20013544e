// The runtime network against a naive double-precision reference written here from the PyTorch model's definition,
// on random weights with small odd sizes; quantized weights (each format, each ISA) against float; chunked
// streaming against one call, bit for bit; refusals of bad configs, tensors and inputs; two threads on one model.
//
// Usage: edgeasr_runtime_tests [--quick]   (--quick: fewer chunkings, for slow emulators)
// Prints one line per failure and ends with "N passed, M failed"; exits nonzero on any failure.
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "edgeasr/quantized_matrix.h"
#include "edgeasr/transducer_model.h"
#include "test_harness.h"

namespace edgeasr {
namespace {

// Float runtime vs double reference: max |got - want| / max(1, |want|).
constexpr double kFloatTol = 1e-5;  // measured: about 1e-6
// Quantized weights vs the same weights decoded to float: only the int8 activations differ. Relative RMS error
// (||got - want|| / ||want||) of encoder outputs, projections and log-probabilities; measured: below 0.008.
constexpr double kActivationQuantTol = 0.02;
// Dense quantized weights vs the original float weights: activation and weight rounding together (measured: q8
// below 0.007, q4 below 0.07).
constexpr double kDenseQ8Tol = 0.02;
constexpr double kDenseQ4Tol = 0.15;

Counts counts;

void Check(bool ok, const std::string& what) { counts.Check(ok, what); }

// --- Random networks -------------------------------------------------------------------------------------------

// The 2-D weights that may come quantized, with their shapes.
struct MatrixName {
  std::string name;
  size_t rows, cols;
};

std::vector<MatrixName> Matrices(const TransducerConfig& c) {
  const size_t d = c.d_model, h = c.hidden;
  std::vector<MatrixName> m = {{"encoder.input_proj.weight", d, size_t(c.stack * c.num_features)}};
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "encoder.layers." + std::to_string(l) + ".";
    m.push_back({p + "weight_ih_l0", 4 * h, d});
    m.push_back({p + "weight_hh_l0", 4 * h, d});
    m.push_back({p + "weight_hr_l0", d, h});
  }
  m.push_back({"joiner.enc_proj.weight", size_t(c.joiner_dim), d});
  m.push_back({"joiner.dec_proj.weight", size_t(c.joiner_dim), size_t(c.decoder_dim)});
  m.push_back({"joiner.output.weight", size_t(c.vocab_size), size_t(c.joiner_dim)});
  return m;
}

// Float tensors shaped as the PyTorch state_dict, initialized at PyTorch-like scales (uniform ±1/sqrt(fan_in)).
NamedTensors RandomTensors(const TransducerConfig& c, uint32_t seed) {
  std::mt19937 rng(seed);
  NamedTensors t;
  auto uniform = [&](const std::string& name, std::vector<size_t> shape, double bound, double center = 0.0) {
    size_t n = 1;
    for (size_t s : shape) n *= s;
    std::uniform_real_distribution<double> u(center - bound, center + bound);
    FloatTensor& f = t.floats[name];
    f.shape = shape;
    f.data.resize(n);
    for (float& v : f.data) v = static_cast<float>(u(rng));
  };
  const size_t F = c.num_features, S = c.stack, d = c.d_model, H = c.hidden, Dd = c.decoder_dim, K = c.context_size,
               J = c.joiner_dim, V = c.vocab_size;
  uniform("encoder.input_proj.weight", {d, S * F}, 1.0 / std::sqrt(double(S * F)));
  uniform("encoder.input_proj.bias", {d}, 1.0 / std::sqrt(double(S * F)));
  uniform("encoder.input_norm.weight", {d}, 0.2, 1.0);
  uniform("encoder.input_norm.bias", {d}, 0.2);
  const double lstm = 1.0 / std::sqrt(double(H));
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "encoder.layers." + std::to_string(l) + ".";
    uniform(p + "weight_ih_l0", {4 * H, d}, lstm);
    uniform(p + "weight_hh_l0", {4 * H, d}, lstm);
    uniform(p + "bias_ih_l0", {4 * H}, lstm);
    uniform(p + "bias_hh_l0", {4 * H}, lstm);
    uniform(p + "weight_hr_l0", {d, H}, lstm);
  }
  uniform("decoder.embedding.weight", {V, Dd}, 1.7);  // about unit variance, like nn.Embedding's N(0, 1)
  uniform("decoder.conv.weight", {Dd, 1, K}, 1.0 / std::sqrt(double(K)));
  uniform("decoder.conv.bias", {Dd}, 1.0 / std::sqrt(double(K)));
  uniform("joiner.enc_proj.weight", {J, d}, 1.0 / std::sqrt(double(d)));
  uniform("joiner.enc_proj.bias", {J}, 1.0 / std::sqrt(double(d)));
  uniform("joiner.dec_proj.weight", {J, Dd}, 1.0 / std::sqrt(double(Dd)));
  uniform("joiner.dec_proj.bias", {J}, 1.0 / std::sqrt(double(Dd)));
  uniform("joiner.output.weight", {V, J}, 3.0 / std::sqrt(double(J)));  // spread log-probs out
  uniform("joiner.output.bias", {V}, 0.5);
  return t;
}

// Quantized copies of the matrices (sparse formats drop half the weights by magnitude), and a float network with
// exactly the quantized weights, decoded.
struct QuantizedPair {
  NamedTensors quantized, decoded;
};

QuantizedPair Quantize(const TransducerConfig& c, const NamedTensors& t, Format format) {
  QuantizedPair p{t, t};
  for (const MatrixName& m : Matrices(c)) {
    const std::vector<float>& w = t.floats.at(m.name).data;
    std::vector<uint8_t> keep;
    if (IsSparse(format)) {
      keep.resize(w.size());
      MagnitudeKeepMask(w.data(), w.size(), 0.5, keep.data());
    }
    QuantizedMatrix q =
        QuantizedMatrix::FromFloat(format, w.data(), m.rows, m.cols, keep.empty() ? nullptr : keep.data());
    q.DecodeFloat(p.decoded.floats.at(m.name).data.data());
    p.quantized.floats.erase(m.name);
    p.quantized.quantized.emplace(m.name, std::move(q));
  }
  return p;
}

std::vector<float> RandomFeatures(size_t frames, size_t features, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> x(frames * features);
  for (float& v : x) v = n(rng);
  return x;
}

// Contexts [n][K]: all-blank, blank-padded and random ones, with the extremes of the vocabulary.
std::vector<int32_t> Contexts(const TransducerConfig& c, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> tok(0, c.vocab_size - 1);
  std::vector<int32_t> ctx(n * c.context_size);
  for (int32_t& v : ctx) v = tok(rng);
  for (int k = 0; k < c.context_size; ++k) ctx[k] = c.blank_id;
  if (n > 1) ctx[c.context_size] = c.blank_id;
  if (n > 2) ctx[2 * c.context_size + c.context_size - 1] = c.vocab_size - 1;
  return ctx;
}

// --- The naive reference ---------------------------------------------------------------------------------------

class Reference {
 public:
  Reference(const TransducerConfig& c, const NamedTensors& t) : c_(c), t_(t) {}

  // Zero state, whole utterance: [frames / stack][d_model].
  std::vector<double> Encode(const std::vector<float>& feats, size_t frames) const {
    const size_t F = c_.num_features, S = c_.stack, d = c_.d_model, H = c_.hidden, steps = frames / S;
    const std::vector<double> in(feats.begin(), feats.begin() + steps * S * F);
    std::vector<double> x = Affine("encoder.input_proj", in, steps, d, S * F);
    const auto& gamma = W("encoder.input_norm.weight");
    const auto& beta = W("encoder.input_norm.bias");
    for (size_t s = 0; s < steps; ++s) {
      double mean = 0, var = 0;
      for (size_t i = 0; i < d; ++i) mean += x[s * d + i] / d;
      for (size_t i = 0; i < d; ++i) var += (x[s * d + i] - mean) * (x[s * d + i] - mean) / d;
      for (size_t i = 0; i < d; ++i) x[s * d + i] = (x[s * d + i] - mean) / std::sqrt(var + 1e-5) * gamma[i] + beta[i];
    }
    for (int l = 0; l < c_.num_layers; ++l) {
      const std::string p = "encoder.layers." + std::to_string(l) + ".";
      const auto &wih = W(p + "weight_ih_l0"), &whh = W(p + "weight_hh_l0"), &bih = W(p + "bias_ih_l0"),
                 &bhh = W(p + "bias_hh_l0"), &whr = W(p + "weight_hr_l0");
      std::vector<double> h(d, 0.0), cell(H, 0.0), y(steps * d), gates(4 * H), r(H);
      for (size_t s = 0; s < steps; ++s) {
        for (size_t j = 0; j < 4 * H; ++j) {
          double g = bih[j] + bhh[j];
          for (size_t i = 0; i < d; ++i) g += wih[j * d + i] * x[s * d + i] + whh[j * d + i] * h[i];
          gates[j] = g;
        }
        for (size_t j = 0; j < H; ++j) {
          const double ig = Sig(gates[j]), fg = Sig(gates[H + j]), gg = std::tanh(gates[2 * H + j]),
                       og = Sig(gates[3 * H + j]);
          cell[j] = fg * cell[j] + ig * gg;
          r[j] = og * std::tanh(cell[j]);
        }
        for (size_t i = 0; i < d; ++i) {
          double v = 0;
          for (size_t j = 0; j < H; ++j) v += whr[i * H + j] * r[j];
          h[i] = v;
          y[s * d + i] = v;
        }
      }
      for (size_t k = 0; k < x.size(); ++k) x[k] += y[k];
    }
    return x;
  }

  std::vector<double> ProjectEncoder(const std::vector<double>& enc, size_t t) const {
    return Affine("joiner.enc_proj", enc, t, c_.joiner_dim, c_.d_model);
  }

  std::vector<double> DecoderProjected(const std::vector<int32_t>& ctx, size_t n) const {
    const size_t Dd = c_.decoder_dim, K = c_.context_size;
    const auto &emb = W("decoder.embedding.weight"), &w = W("decoder.conv.weight"), &b = W("decoder.conv.bias");
    std::vector<double> out(n * Dd);
    for (size_t u = 0; u < n; ++u)
      for (size_t i = 0; i < Dd; ++i) {
        double v = b[i];
        for (size_t k = 0; k < K; ++k) v += w[i * K + k] * emb[ctx[u * K + k] * Dd + i];
        out[u * Dd + i] = std::max(v, 0.0);
      }
    return Affine("joiner.dec_proj", out, n, c_.joiner_dim, Dd);
  }

  // One projected frame enc[J] against dec[n][J]: [n][V] log-probabilities.
  std::vector<double> Joint(const double* enc, const std::vector<double>& dec, size_t n) const {
    const size_t J = c_.joiner_dim, V = c_.vocab_size;
    std::vector<double> hid(n * J);
    for (size_t u = 0; u < n; ++u)
      for (size_t j = 0; j < J; ++j) hid[u * J + j] = std::tanh(enc[j] + dec[u * J + j]);
    std::vector<double> logits = Affine("joiner.output", hid, n, V, J);
    for (size_t u = 0; u < n; ++u) {
      double z = 0;
      for (size_t v = 0; v < V; ++v) z += std::exp(logits[u * V + v]);
      for (size_t v = 0; v < V; ++v) logits[u * V + v] -= std::log(z);
    }
    return logits;
  }

 private:
  static double Sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }
  const std::vector<float>& W(const std::string& name) const { return t_.floats.at(name).data; }

  // y[m][out] = x[m][in] · (prefix.weight)ᵀ + prefix.bias
  std::vector<double> Affine(const std::string& prefix, const std::vector<double>& x, size_t m, size_t out,
                             size_t in) const {
    const auto &w = W(prefix + ".weight"), &b = W(prefix + ".bias");
    std::vector<double> y(m * out);
    for (size_t i = 0; i < m; ++i)
      for (size_t r = 0; r < out; ++r) {
        double v = b[r];
        for (size_t k = 0; k < in; ++k) v += w[r * in + k] * x[i * in + k];
        y[i * out + r] = v;
      }
    return y;
  }

  TransducerConfig c_;
  const NamedTensors& t_;
};

// --- What a model computes, end to end --------------------------------------------------------------------------

struct Outputs {
  std::vector<float> enc, enc_proj, dec, log_probs;  // log_probs: [frames][contexts][V]
};

constexpr size_t kContexts = 5;

Outputs Run(const TransducerModel& m, const std::vector<float>& feats, size_t frames) {
  const TransducerConfig& c = m.config();
  Outputs o;
  EncoderState s = m.InitState();
  m.Encode(feats.data(), frames, s, &o.enc);
  const size_t t = o.enc.size() / c.d_model;
  o.enc_proj.resize(t * c.joiner_dim);
  m.ProjectEncoder(o.enc.data(), t, o.enc_proj.data());
  const std::vector<int32_t> ctx = Contexts(c, kContexts, 7);
  o.dec.resize(kContexts * c.joiner_dim);
  m.DecoderProjected(ctx.data(), kContexts, o.dec.data());
  o.log_probs.resize(t * kContexts * c.vocab_size);
  for (size_t f = 0; f < t; ++f)
    m.JointLogProbs(o.enc_proj.data() + f * c.joiner_dim, o.dec.data(), kContexts,
                    o.log_probs.data() + f * kContexts * c.vocab_size);
  return o;
}

double MaxRelError(const std::vector<float>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(got[i] - want[i]) / std::max(1.0, std::abs(want[i])));
  return worst;
}

double RmsRelError(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size() || want.empty()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / den);
}

std::string Fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* format, ...) {
  char buf[400];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return buf;
}

// --- The tests --------------------------------------------------------------------------------------------------

void TestFloatVsReference(const TransducerConfig& c, const NamedTensors& t, size_t frames) {
  const TransducerModel model(c, t);
  const std::vector<float> feats = RandomFeatures(frames, c.num_features, 11);
  const Outputs o = Run(model, feats, frames);
  const Reference ref(c, t);
  const size_t steps = frames / c.stack;
  const std::vector<double> enc = ref.Encode(feats, frames);
  const std::vector<double> enc_proj = ref.ProjectEncoder(enc, steps);
  const std::vector<double> dec = ref.DecoderProjected(Contexts(c, kContexts, 7), kContexts);
  std::vector<double> lp;
  for (size_t f = 0; f < steps; ++f) {
    const std::vector<double> row = ref.Joint(enc_proj.data() + f * c.joiner_dim, dec, kContexts);
    lp.insert(lp.end(), row.begin(), row.end());
  }
  const std::string where = c.ToString() + " frames=" + std::to_string(frames);
  const std::pair<const char*, double> errors[] = {
      {"encode", MaxRelError(o.enc, enc)},
      {"project_encoder", MaxRelError(o.enc_proj, enc_proj)},
      {"decoder_projected", MaxRelError(o.dec, dec)},
      {"joint_log_probs", MaxRelError(o.log_probs, lp)},
  };
  for (const auto& [name, err] : errors) {
    std::printf("  float vs reference, %3zu frames: %-18s max rel error %.2e\n", frames, name, err);
    Check(err <= kFloatTol, Fmt("float %s vs reference: error %.3e > %.1e (%s)", name, err, kFloatTol, where.c_str()));
  }
  Check(o.enc.size() == steps * c.d_model, "encode: output size " + std::to_string(o.enc.size()));
  // Log-probabilities: each row sums to one.
  for (size_t r = 0; r < lp.size() / c.vocab_size; ++r) {
    double sum = 0;
    for (int v = 0; v < c.vocab_size; ++v) sum += std::exp(double(o.log_probs[r * c.vocab_size + v]));
    if (std::abs(sum - 1.0) > 1e-5) {
      Check(false, Fmt("joint_log_probs row %zu: probabilities sum to %.8f", r, sum));
      break;
    }
  }
}

void TestQuantized(const TransducerConfig& c, const NamedTensors& t, size_t frames) {
  const std::vector<float> feats = RandomFeatures(frames, c.num_features, 12);
  const Outputs original = Run(TransducerModel(c, t), feats, frames);
  for (Format format : {Format::kDenseQ8, Format::kDenseQ4, Format::kSparseQ8, Format::kSparseQ4}) {
    const QuantizedPair p = Quantize(c, t, format);
    const Outputs want = Run(TransducerModel(c, p.decoded), feats, frames);
    Outputs first;
    bool have_first = false;
    for (Isa isa : SupportedIsas()) {
      const TransducerModel model(c, p.quantized, &KernelsFor(isa));
      const Outputs got = Run(model, feats, frames);
      const std::string where = std::string(FormatName(format)) + " " + IsaName(isa);
      const std::pair<const char*, double> errors[] = {
          {"encode", RmsRelError(got.enc, want.enc)},
          {"project_encoder", RmsRelError(got.enc_proj, want.enc_proj)},
          {"decoder_projected", RmsRelError(got.dec, want.dec)},
          {"joint_log_probs", RmsRelError(got.log_probs, want.log_probs)},
      };
      for (const auto& [name, err] : errors) {
        if (!have_first)
          std::printf("  %-9s vs decoded float %-18s rms rel error %.2e\n", FormatName(format), name, err);
        Check(err <= kActivationQuantTol, Fmt("%s %s vs decoded float: rms rel error %.3e > %.2f", where.c_str(), name,
                                              err, kActivationQuantTol));
      }
      // The kernels are exact in int32 and the scaling is shared, so every ISA gives the same bits.
      if (have_first) {
        Check(got.enc == first.enc && got.enc_proj == first.enc_proj && got.dec == first.dec &&
                  got.log_probs == first.log_probs,
              where + ": differs from " + IsaName(SupportedIsas().front()));
      } else {
        first = got;
        have_first = true;
      }
    }
    if (IsSparse(format)) continue;  // pruning half the weights changes the network; nothing to bound
    const double tol = format == Format::kDenseQ8 ? kDenseQ8Tol : kDenseQ4Tol;
    const double err_enc = RmsRelError(first.enc, original.enc);
    const double err_lp = RmsRelError(first.log_probs, original.log_probs);
    std::printf("  %-9s vs original float: encode rms rel error %.2e, log-probs %.2e\n", FormatName(format), err_enc,
                err_lp);
    Check(err_enc <= tol && err_lp <= tol,
          Fmt("%s vs original float: rms rel error %.3e / %.3e > %.2f", FormatName(format), err_enc, err_lp, tol));
  }
}

// Encodes feats in chunks of the given sizes (cycled) and returns the concatenated output and the final state.
std::vector<float> EncodeChunked(const TransducerModel& m, const std::vector<float>& feats, size_t frames,
                                 const std::vector<size_t>& chunks, EncoderState* final_state) {
  EncoderState s = m.InitState();
  std::vector<float> all, part;
  const size_t F = m.config().num_features;
  for (size_t pos = 0, i = 0; pos < frames; ++i) {
    const size_t n = std::min(chunks[i % chunks.size()], frames - pos);
    m.Encode(feats.data() + pos * F, n, s, &part);
    all.insert(all.end(), part.begin(), part.end());
    pos += n;
  }
  *final_state = s;
  return all;
}

bool SameState(const EncoderState& a, const EncoderState& b) {
  return a.h == b.h && a.c == b.c && a.pending == b.pending;
}

void TestStreaming(const TransducerConfig& c, const NamedTensors& t, size_t frames, bool quick, const char* label) {
  const TransducerModel m(c, t);
  const std::vector<float> feats = RandomFeatures(frames, c.num_features, 13);
  EncoderState whole_state = m.InitState();
  std::vector<float> whole;
  m.Encode(feats.data(), frames, whole_state, &whole);
  std::vector<std::vector<size_t>> chunkings = {{4}, {8}, {12}};
  if (!quick) chunkings.insert(chunkings.end(), {{1}, {3}, {5}, {7, 0, 2}, {130}, {1, 4, 11, 0, 6}});
  for (const auto& chunks : chunkings) {
    EncoderState s;
    const std::vector<float> got = EncodeChunked(m, feats, frames, chunks, &s);
    std::string name = std::string(label) + " chunks {";
    for (size_t n : chunks) name += std::to_string(n) + ",";
    name += "}";
    Check(got == whole, name + ": output differs from one call");
    Check(SameState(s, whole_state), name + ": final state differs from one call");
  }
  // A copied state carries on exactly as the original.
  EncoderState a = m.InitState();
  std::vector<float> out_a, out_b;
  const size_t half = frames / 2 + 1;  // odd split: frames wait in the state
  m.Encode(feats.data(), half, a, &out_a);
  EncoderState b = a;
  m.Encode(feats.data() + half * c.num_features, frames - half, a, &out_a);
  m.Encode(feats.data() + half * c.num_features, frames - half, b, &out_b);
  Check(out_a == out_b && SameState(a, b), std::string(label) + ": a copied state diverges");
}

// Runs fn, which must throw std::invalid_argument whose message contains every one of `needles`.
void ExpectInvalid(const std::string& what, const std::vector<std::string>& needles, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    for (const std::string& n : needles)
      if (msg.find(n) == std::string::npos) {
        Check(false, what + ": message '" + msg + "' lacks '" + n + "'");
        return;
      }
    Check(true, what);
    return;
  } catch (const std::exception& e) {
    Check(false, what + ": threw something else: " + e.what());
    return;
  }
  Check(false, what + ": did not throw");
}

void TestBadConfig(const TransducerConfig& c, const NamedTensors& t) {
  const std::pair<const char*, int TransducerConfig::*> fields[] = {
      {"num_features", &TransducerConfig::num_features}, {"stack", &TransducerConfig::stack},
      {"d_model", &TransducerConfig::d_model},           {"hidden", &TransducerConfig::hidden},
      {"num_layers", &TransducerConfig::num_layers},     {"decoder_dim", &TransducerConfig::decoder_dim},
      {"context_size", &TransducerConfig::context_size}, {"joiner_dim", &TransducerConfig::joiner_dim},
      {"vocab_size", &TransducerConfig::vocab_size},
  };
  for (const auto& [name, field] : fields)
    for (int bad : {0, -3}) {
      TransducerConfig b = c;
      b.*field = bad;
      ExpectInvalid(std::string("config ") + name + "=" + std::to_string(bad), {name}, [&] { b.Validate(); });
      ExpectInvalid(std::string("model with config ") + name + "=" + std::to_string(bad), {name},
                    [&] { TransducerModel m(b, t); });
    }
  TransducerConfig b = c;
  b.hidden = c.d_model;
  ExpectInvalid("config hidden == d_model", {"d_model", "hidden"}, [&] { b.Validate(); });
  b = c;
  b.vocab_size = 1;
  b.blank_id = 0;
  ExpectInvalid("config vocab_size=1", {"vocab_size"}, [&] { b.Validate(); });
  for (int bad : {-1, c.vocab_size}) {
    b = c;
    b.blank_id = bad;
    ExpectInvalid("config blank_id=" + std::to_string(bad), {"blank_id"}, [&] { b.Validate(); });
  }
  // A config that is valid but does not match the tensors names the first tensor that disagrees.
  b = c;
  b.hidden = c.hidden + 1;
  ExpectInvalid("model with hidden + 1", {"encoder.layers.0.", "expected"}, [&] { TransducerModel m(b, t); });
  const std::string s = c.ToString();
  Check(s.find("d_model=" + std::to_string(c.d_model)) != std::string::npos &&
            s.find("blank_id=" + std::to_string(c.blank_id)) != std::string::npos,
        "ToString: " + s);
}

void TestBadTensors(const TransducerConfig& c, const NamedTensors& t) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : t.floats) names.push_back(name);
  for (const std::string& name : names) {
    NamedTensors missing = t;
    missing.floats.erase(name);
    ExpectInvalid("missing " + name, {name, "missing"}, [&] { TransducerModel m(c, missing); });

    NamedTensors misshapen = t;
    FloatTensor& f = misshapen.floats.at(name);
    f.shape[0] += 1;
    f.data.resize(f.data.size() + f.data.size() / t.floats.at(name).shape[0]);
    ExpectInvalid("misshapen " + name, {name, "expected shape", "got"}, [&] { TransducerModel m(c, misshapen); });

    NamedTensors flat = t;  // same values, one dimension fewer (or more)
    FloatTensor& g = flat.floats.at(name);
    if (g.shape.size() == 1) g.shape.push_back(1);
    else g.shape = {g.data.size()};
    ExpectInvalid("wrong rank " + name, {name, "expected shape"}, [&] { TransducerModel m(c, flat); });

    NamedTensors nan = t;
    nan.floats.at(name).data.back() = NAN;
    ExpectInvalid("NaN in " + name, {name, "non-finite"}, [&] { TransducerModel m(c, nan); });

    NamedTensors short_data = t;
    short_data.floats.at(name).data.pop_back();
    ExpectInvalid("too few values in " + name, {name, "values"}, [&] { TransducerModel m(c, short_data); });
  }
  for (const MatrixName& m : Matrices(c)) {
    // A quantized matrix of the wrong shape.
    const std::vector<float> w(m.rows * (m.cols + 1), 0.25f);
    NamedTensors q = t;
    q.floats.erase(m.name);
    q.quantized.emplace(m.name, QuantizedMatrix::FromFloat(Format::kDenseQ8, w.data(), m.rows, m.cols + 1, nullptr));
    ExpectInvalid("quantized misshapen " + m.name, {m.name, "expected shape"}, [&] { TransducerModel x(c, q); });
    // Given twice.
    NamedTensors twice = t;
    twice.quantized.emplace(m.name, QuantizedMatrix::FromFloat(Format::kDenseQ8, t.floats.at(m.name).data.data(),
                                                               m.rows, m.cols, nullptr));
    ExpectInvalid("float and quantized " + m.name, {m.name, "both"}, [&] { TransducerModel x(c, twice); });
  }
  // Only 2-D weight matrices may be quantized.
  NamedTensors qbias = t;
  const std::vector<float> b = qbias.floats.at("joiner.output.bias").data;
  qbias.floats.erase("joiner.output.bias");
  qbias.quantized.emplace("joiner.output.bias",
                          QuantizedMatrix::FromFloat(Format::kDenseQ8, b.data(), 1, b.size(), nullptr));
  ExpectInvalid("quantized bias", {"joiner.output.bias", "float32"}, [&] { TransducerModel x(c, qbias); });
  NamedTensors extra = t;
  extra.floats["ctc_head.weight"] = FloatTensor{{2}, {1.0f, 2.0f}};
  ExpectInvalid("unexpected tensor", {"unexpected", "ctc_head.weight"}, [&] { TransducerModel x(c, extra); });
  NamedTensors extra_layer = t;
  extra_layer.floats["encoder.layers." + std::to_string(c.num_layers) + ".bias_ih_l0"] = FloatTensor{{1}, {0.0f}};
  ExpectInvalid("a layer beyond num_layers", {"unexpected"}, [&] { TransducerModel x(c, extra_layer); });
}

void TestBadInputs(const TransducerConfig& c, const NamedTensors& t) {
  const TransducerModel m(c, t);
  std::vector<float> dec(2 * c.joiner_dim);
  for (int32_t bad : {-1, c.vocab_size}) {
    std::vector<int32_t> ctx = Contexts(c, 2, 3);
    ctx.back() = bad;
    ExpectInvalid("token id " + std::to_string(bad), {"contexts", std::to_string(bad)},
                  [&] { m.DecoderProjected(ctx.data(), 2, dec.data()); });
  }
  // A state of a network with another shape.
  TransducerConfig other = c;
  other.num_layers = c.num_layers + 1;
  const TransducerModel bigger(other, RandomTensors(other, 5));
  EncoderState foreign = bigger.InitState();
  const std::vector<float> feats = RandomFeatures(9, c.num_features, 4);
  std::vector<float> out;
  ExpectInvalid("foreign state", {"state"}, [&] { m.Encode(feats.data(), 9, foreign, &out); });
  EncoderState s = m.InitState();
  ExpectInvalid("null out", {"out"}, [&] { m.Encode(feats.data(), 9, s, nullptr); });
  // Non-finite features throw and leave the state as it was, pending frames included.
  m.Encode(feats.data(), 6, s, &out);
  const EncoderState before = s;
  std::vector<float> bad = feats;
  bad[7 * c.num_features + 1] = INFINITY;
  ExpectInvalid("infinite feature", {"feats", "frame 7"}, [&] { m.Encode(bad.data(), 9, s, &out); });
  Check(SameState(s, before), "a refused Encode changed the state");
  // Zero-length calls are fine.
  m.Encode(nullptr, 0, s, &out);
  Check(out.empty() && SameState(s, before), "Encode of 0 frames changed something");
  m.DecoderProjected(nullptr, 0, nullptr);
  m.JointLogProbs(dec.data(), nullptr, 0, nullptr);
  m.ProjectEncoder(nullptr, 0, nullptr);
  Check(true, "zero-length calls");
}

// Two threads on one model, each its own streams, give what a serial run gives.
void TestThreads(const TransducerConfig& c, const NamedTensors& t, const char* label) {
  const TransducerModel m(c, t);
  const size_t frames = 97;
  const std::vector<float> f0 = RandomFeatures(frames, c.num_features, 21);
  const std::vector<float> f1 = RandomFeatures(frames, c.num_features, 22);
  auto work = [&](const std::vector<float>& feats, const std::vector<size_t>& chunks, Outputs* o) {
    for (int rep = 0; rep < 20; ++rep) {
      EncoderState s;
      o->enc = EncodeChunked(m, feats, frames, chunks, &s);
      const size_t steps = o->enc.size() / c.d_model;
      o->enc_proj.resize(steps * c.joiner_dim);
      m.ProjectEncoder(o->enc.data(), steps, o->enc_proj.data());
      const std::vector<int32_t> ctx = Contexts(c, kContexts, 9);
      o->dec.resize(kContexts * c.joiner_dim);
      m.DecoderProjected(ctx.data(), kContexts, o->dec.data());
      o->log_probs.resize(steps * kContexts * c.vocab_size);
      for (size_t f = 0; f < steps; ++f)
        m.JointLogProbs(o->enc_proj.data() + f * c.joiner_dim, o->dec.data(), kContexts,
                        o->log_probs.data() + f * kContexts * c.vocab_size);
    }
  };
  Outputs serial0, serial1, par0, par1;
  work(f0, {4}, &serial0);
  work(f1, {5, 3}, &serial1);
  std::thread a(work, std::cref(f0), std::vector<size_t>{4}, &par0);
  std::thread b(work, std::cref(f1), std::vector<size_t>{5, 3}, &par1);
  a.join();
  b.join();
  auto same = [](const Outputs& x, const Outputs& y) {
    return x.enc == y.enc && x.enc_proj == y.enc_proj && x.dec == y.dec && x.log_probs == y.log_probs;
  };
  Check(same(serial0, par0) && same(serial1, par1), std::string(label) + ": two threads differ from serial");
}

}  // namespace
}  // namespace edgeasr

int main(int argc, char** argv) {
  using namespace edgeasr;
  bool quick = false;
  if (!ParseTestArgs(argc, argv, &quick)) return 2;
  std::printf("isas:");
  for (Isa isa : SupportedIsas()) std::printf(" %s", IsaName(isa));
  std::printf("%s\n", quick ? " (quick)" : "");

  TransducerConfig a;  // small odd sizes; 283 frames = 70 steps (more than one 32-step block) + 3 frames left
  a.num_features = 10;
  a.stack = 4;
  a.d_model = 24;
  a.hidden = 40;
  a.num_layers = 2;
  a.decoder_dim = 16;
  a.context_size = 2;
  a.joiner_dim = 20;
  a.vocab_size = 13;
  TransducerConfig b = a;  // another shape: stack 3, one layer, three tokens of context, a non-zero blank
  b.num_features = 7;
  b.stack = 3;
  b.d_model = 9;
  b.hidden = 71;
  b.num_layers = 1;
  b.decoder_dim = 5;
  b.context_size = 3;
  b.joiner_dim = 67;
  b.vocab_size = 3;
  b.blank_id = 2;
  const NamedTensors ta = RandomTensors(a, 1), tb = RandomTensors(b, 2);

  for (const auto& [c, t] : {std::pair{a, ta}, std::pair{b, tb}}) {
    std::printf("%s\n", c.ToString().c_str());
    TestFloatVsReference(c, t, 283);
    TestFloatVsReference(c, t, 2);  // no whole step
    TestQuantized(c, t, 283);
    TestStreaming(c, t, 283, quick, "float");
    for (Format format : {Format::kDenseQ8, Format::kSparseQ4})
      TestStreaming(c, Quantize(c, t, format).quantized, 283, quick, FormatName(format));
    TestBadConfig(c, t);
    TestBadTensors(c, t);
    TestBadInputs(c, t);
    TestThreads(c, t, "float");
    TestThreads(c, Quantize(c, t, Format::kSparseQ8).quantized, "sparse_q8");
  }

  return counts.Report();
}
