#include "edgeasr/beam_search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "edgeasr/blank_penalty.h"
#include "edgeasr/max_of.h"
#include "token_lattice.h"

namespace edgeasr {

void BeamSearchConfig::Validate() const {
  if (beam < 1) throw std::invalid_argument("beam: must be >= 1, got " + std::to_string(beam));
  if (!std::isfinite(blank_penalty)) throw std::invalid_argument("blank_penalty: must be finite");
  if (!std::isfinite(token_reward)) throw std::invalid_argument("token_reward: must be finite");
  if (!std::isfinite(lm_scale) || lm_scale < 0.f)
    throw std::invalid_argument("lm_scale: must be finite and >= 0, got " + std::to_string(lm_scale));
  if (!std::isfinite(ilm_scale) || ilm_scale < 0.f)
    throw std::invalid_argument("ilm_scale: must be finite and >= 0, got " + std::to_string(ilm_scale));
  if (std::isnan(lattice_beam) || lattice_beam < 0.f)
    throw std::invalid_argument("lattice_beam: must be >= 0 (infinity keeps everything), got " +
                                std::to_string(lattice_beam));
  if (decoder_cache_size < beam)
    throw std::invalid_argument("decoder_cache_size: must be >= beam (" + std::to_string(beam) + "), got " +
                                std::to_string(decoder_cache_size));
  if (max_lattice_arcs < 1)
    throw std::invalid_argument("max_lattice_arcs: must be >= 1, got " + std::to_string(max_lattice_arcs));
}

std::string BeamSearchConfig::ToString() const {
  char buf[360];
  std::snprintf(buf, sizeof buf,
                "BeamSearchConfig(beam=%d, blank_penalty=%g, lattice_beam=%g, decoder_cache_size=%d, "
                "max_lattice_arcs=%d, token_reward=%g, lm_scale=%g, lm_end_of_sentence=%s, ilm_scale=%g)",
                beam, static_cast<double>(blank_penalty), static_cast<double>(lattice_beam), decoder_cache_size,
                max_lattice_arcs, static_cast<double>(token_reward), static_cast<double>(lm_scale),
                lm_end_of_sentence ? "true" : "false", static_cast<double>(ilm_scale));
  return buf;
}

namespace {

// LM rows kept per stream, at most this plus the beam (each 2 x vocabulary x 4 bytes: 2 KB for 256 tokens): the LM
// states of a beam's hypotheses and of their recent ancestors.
constexpr size_t kMaxLmRows = 64;

// What decides a hypothesis's future: its context, its biasing state, its grammar state and its LM state.
struct Key {
  std::vector<int32_t> context;  // last context_size tokens, oldest first
  int32_t state = ContextGraph::kRoot;
  int32_t grammar = Grammar::kStart;
  int32_t lm = 0;  // n-gram LM state

  bool operator==(const Key&) const = default;
};

struct Hyp {
  Key key;
  double acoustic = 0, bias = 0;
  int32_t seq = search::SequenceTrie::kEmpty;
  int32_t node = 0;        // lattice node
  int32_t last_emit = -1;  // frame of the last token on its best alignment

  double total() const { return acoustic + bias; }
};

// After Settle() with an LM: a hypothesis's node past its end-of-sentence arc and its acoustic score with the end.
struct Ended {
  int32_t node;
  double acoustic;
};

struct ContextHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    uint64_t h = 0xCBF29CE484222325ull;
    for (int32_t t : v) h = (h ^ uint32_t(t)) * 0x100000001B3ull;
    return size_t(h);
  }
};

// How many of x[0..n) exceed t, without a branch (cloned for AVX-512 and AVX2, where the compiler vectorizes it).
#if EDGEASR_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
size_t CountAbove(const double* x, size_t n, double t) {
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) count += x[i] > t;
  return count;
}

// The per-candidate loops of a frame, over every token of every hypothesis (n x V: 8,000 at beam 16), cloned for
// AVX-512 and AVX2 like CountAbove. Each is elementwise and keeps the scalar code's operations (no contraction, the
// build's -ffp-contract=off), so every clone gives the same bits; the blank's entry is put back or recomputed after
// the loop instead of skipped inside it, which kept the loops scalar.

// x[k] += a for every k but `skip`.
#if EDGEASR_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void AddAllBut(float* x, size_t n, size_t skip, float a) {
  const float kept = x[skip];
  for (size_t k = 0; k < n; ++k) x[k] += a;
  x[skip] = kept;
}

// x[k] += scale * y[k] for every k but `skip`.
#if EDGEASR_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void AddScaledAllBut(float* x, const float* y, size_t n, size_t skip, float scale) {
  const float kept = x[skip];
  for (size_t k = 0; k < n; ++k) x[k] += scale * y[k];
  x[skip] = kept;
}

// out[k] = total + (logp[k] + bonus[k]) in double, the blank's without its bonus; NaN becomes -inf.
#if EDGEASR_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void CandidateScores(double total, const float* logp, const float* bonus, size_t n, size_t blank, double* out) {
  for (size_t k = 0; k < n; ++k) {
    const double score = total + (double(logp[k]) + double(bonus[k]));
    out[k] = score != score ? search::kNegInf : score;
  }
  const double score = total + (double(logp[blank]) + 0.0);
  out[blank] = score != score ? search::kNegInf : score;
}

// Appends to `out` the indices of x[0..n) that exceed t, in order. Few do (the selection's threshold keeps at most
// 2 x 24 of 8,000 at beam 16, unless the bisection runs out), so blocks of 16 are tested at once and only a block with
// one of them is scanned.
#if EDGEASR_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void CollectAbove(const double* x, size_t n, double t, std::vector<int32_t>& out) {
  constexpr size_t kBlock = 16;
  size_t c = 0;
  for (; c + kBlock <= n; c += kBlock) {
    int any = 0;
    for (size_t j = 0; j < kBlock; ++j) any |= x[c + j] > t;
    if (any)
      for (size_t j = 0; j < kBlock; ++j)
        if (x[c + j] > t) out.push_back(int32_t(c + j));
  }
  for (; c < n; ++c)
    if (x[c] > t) out.push_back(int32_t(c));
}

// The order the beam takes candidates in: higher score first, then lower index (lower hypothesis, then lower token),
// so beam 1 picks what greedy search picks. A strict total order.
bool Better(const double* scores, int32_t a, int32_t b) {
  return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
}

// The best m of scores[0..total) (m <= total) in the order of Better, into `order`: exactly the head of that order.
// Ordering all of them (nth_element, with its unpredictable branches) took a third of beam search. Instead a
// threshold lo below the best score is moved until at least m candidates lie above it (branch-free counts), then
// narrowed by bisection until at most 2m do, and the selection runs on those few: the best m all lie above lo.
// `margin`: how far below the best the threshold is tried first, and where it ended, for the next frame:
// consecutive frames spread their scores alike, so fewer counts bracket it than from 1.0 each frame.
void SelectBest(const double* scores, size_t total, size_t m, double& margin, std::vector<int32_t>& order) {
  const double best = MaxOf(scores, total);
  double hi = best, lo = search::kNegInf;  // CountAbove(hi) < m <= CountAbove(lo)
  size_t lo_count = total;
  double t = margin;
  size_t count = CountAbove(scores, total, best - t);
  if (count < m) {
    hi = best - t;
    while (t < 1e6) {
      t *= 2.0;
      count = CountAbove(scores, total, best - t);
      if (count >= m) {
        lo = best - t;
        lo_count = count;
        break;
      }
      hi = best - t;
    }
  } else {
    lo = best - t;
    lo_count = count;
    while (lo_count > 2 * m && t > 1e-3) {  // too many above: halve towards the best
      count = CountAbove(scores, total, best - 0.5 * t);
      if (count < m) {
        hi = best - 0.5 * t;
        break;
      }
      t *= 0.5;
      lo = best - t;
      lo_count = count;
    }
  }
  for (int step = 0; step < 30 && lo_count > 2 * m && lo != search::kNegInf; ++step) {
    const double mid = 0.5 * (lo + hi);
    count = CountAbove(scores, total, mid);
    if (count >= m) {
      lo = mid;
      lo_count = count;
    } else {
      hi = mid;
    }
  }
  if (lo != search::kNegInf && best - lo > 1e-3) margin = best - lo;
  order.clear();
  if (lo == search::kNegInf) {  // fewer than m finite scores: every candidate
    order.resize(total);
    std::iota(order.begin(), order.end(), 0);
  } else {
    CollectAbove(scores, total, lo, order);
  }
  auto better = [scores](int32_t a, int32_t b) { return Better(scores, a, b); };
  if (order.size() > m) {
    std::nth_element(order.begin(), order.begin() + std::ptrdiff_t(m) - 1, order.end(), better);
    order.resize(m);
  }
  std::sort(order.begin(), order.end(), better);
}

void SortByTotal(std::vector<Hyp>& hyps) {
  std::stable_sort(hyps.begin(), hyps.end(), [](const Hyp& a, const Hyp& b) { return a.total() > b.total(); });
}

// The hypotheses of an utterance ending here: each moved past its end-of-sentence arc (ended, in the same order),
// ranked with it.
std::vector<Hyp> MovedOntoEnds(std::vector<Hyp> hyps, const std::vector<Ended>& ended) {
  for (size_t i = 0; i < hyps.size(); ++i) {
    hyps[i].node = ended[i].node;
    hyps[i].acoustic = ended[i].acoustic;
  }
  SortByTotal(hyps);
  return hyps;
}

}  // namespace

struct BeamSearch::State {
  int32_t vocab = 0, dim = 0, blank = 0;
  std::vector<Hyp> hyps;  // best first
  search::TokenLattice lattice;
  search::SequenceTrie trie;
  std::vector<FrameSignal> signals;
  int32_t frames = 0;
  bool finalized = false;
  // After Settle() with an LM, per hypothesis (same order): Result() ranks by them until the next frame, and
  // Finalize() moves onto them.
  std::vector<Ended> ended;
  // Projected decoder outputs by context; rows are numbered in insertion order.
  std::unordered_map<std::vector<int32_t>, int32_t, ContextHash> cache;
  std::vector<float> cache_rows;
  std::vector<float> ilm_rows;  // with ilm_scale: per cached context, ln P_ilm(token | context) (blank's entry 0)
  // Scratch, reused across frames.
  std::vector<float> dec, logp, joint, bonus;
  std::vector<int32_t> next, grammar_next, order;
  double selection_margin = 1.0;  // below the best score: where the last frame's selection threshold lay
  // The LM's row (ScoreAll: every token's log-probability and next state) depends on the LM state alone, and a
  // hypothesis keeps its state over the frames where it emits blank, so rows are kept by state across frames
  // (dropped all at once when a frame starts with more than kMaxLmRows of them).
  std::unordered_map<int32_t, int32_t> lm_row_of;  // LM state -> row
  std::vector<float> lm_rows_logp;
  std::vector<int32_t> lm_rows_next, lm_row;      // lm_row: hypothesis -> row, this frame
  std::vector<size_t> distinct, row_of;
  std::vector<double> scores;
};

BeamSearch::BeamSearch(std::shared_ptr<const TransducerScorer> scorer, std::vector<std::string> pieces,
                       const BeamSearchConfig& config, std::shared_ptr<const ContextGraph> context_graph,
                       std::shared_ptr<const Grammar> grammar, std::shared_ptr<const NgramLm> lm)
    : scorer_(std::move(scorer)),
      tokens_(search::MakeTokenTable(scorer_.get(), std::move(pieces))),
      config_(config),
      graph_(std::move(context_graph)),
      grammar_(std::move(grammar)),
      lm_(std::move(lm)),
      s_(std::make_unique<State>()) {
  config_.Validate();
  search::CheckSearchInputs(scorer_.get(), tokens_, graph_.get());
  if (grammar_) {
    if (grammar_->max_token() >= scorer_->vocab_size())
      throw std::invalid_argument("grammar: token id " + std::to_string(grammar_->max_token()) +
                                  " is outside the vocabulary of " + std::to_string(scorer_->vocab_size()));
    if (grammar_->UsesToken(scorer_->blank_id()))
      throw std::invalid_argument("grammar: a phrase contains the blank id " + std::to_string(scorer_->blank_id()));
  }
  if (lm_ && lm_->vocab_size() != scorer_->vocab_size())
    throw std::invalid_argument("lm: built for " + std::to_string(lm_->vocab_size()) + " tokens, the model has " +
                                std::to_string(scorer_->vocab_size()));
  if (config_.lm_scale == 0.f) lm_.reset();  // weight 0: exactly the search without the LM
  s_->vocab = scorer_->vocab_size();
  s_->dim = scorer_->joiner_dim();
  s_->blank = scorer_->blank_id();
  Reset();
}

BeamSearch::~BeamSearch() = default;

void BeamSearch::Reset() {
  State& s = *s_;
  s.lattice.Clear();
  s.trie.Clear();
  s.signals.clear();
  s.frames = 0;
  s.finalized = false;
  s.ended.clear();
  Hyp start;
  start.key.context.assign(size_t(scorer_->context_size()), s.blank);
  start.key.lm = lm_ ? lm_->start_state() : 0;
  start.node = s.lattice.AddNode(0);
  s.hyps.assign(1, std::move(start));
}

void BeamSearch::AcceptFrames(const float* enc, size_t num_frames) {
  if (s_->finalized) throw std::logic_error("AcceptFrames: the utterance is finalized; call Reset() first");
  if (num_frames > 0 && !enc) throw std::invalid_argument("enc: null");
  for (size_t t = 0; t < num_frames; ++t) ProcessFrame(enc + t * size_t(s_->dim));
}

void BeamSearch::ProcessFrame(const float* enc_frame) {
  State& s = *s_;
  s.ended.clear();  // the end-point view is over: the utterance goes on
  const std::vector<Hyp>& hyps = s.hyps;
  const size_t n = hyps.size(), V = size_t(s.vocab), J = size_t(s.dim);
  const int32_t blank = s.blank;

  // Decoder outputs: cached per context, the missing ones in one batched call.
  const bool ilm = lm_ && config_.ilm_scale != 0.f;
  if (s.cache.size() + n > size_t(config_.decoder_cache_size)) {
    s.cache.clear();
    s.cache_rows.clear();
    s.ilm_rows.clear();
  }
  std::vector<int32_t> rows(n), missing_contexts, missing_rows;
  for (size_t i = 0; i < n; ++i) {
    const auto [it, inserted] = s.cache.try_emplace(hyps[i].key.context, static_cast<int32_t>(s.cache.size()));
    rows[i] = it->second;
    if (inserted) {
      missing_contexts.insert(missing_contexts.end(), hyps[i].key.context.begin(), hyps[i].key.context.end());
      missing_rows.push_back(it->second);
    }
  }
  if (!missing_rows.empty()) {
    s.cache_rows.resize(s.cache.size() * J);
    std::vector<float> fresh(missing_rows.size() * J), fresh_ilm;
    try {
      scorer_->DecoderProjected(missing_contexts.data(), missing_rows.size(), fresh.data());
      if (ilm) {  // the internal LM: the joiner without the encoder's part (a zero frame)
        const std::vector<float> zero(J, 0.f);
        fresh_ilm.resize(missing_rows.size() * V);
        scorer_->JointLogProbs(zero.data(), fresh.data(), missing_rows.size(), fresh_ilm.data());
      }
    } catch (...) {
      s.cache.clear();
      s.cache_rows.clear();
      s.ilm_rows.clear();
      throw;
    }
    for (size_t m = 0; m < missing_rows.size(); ++m)
      std::copy_n(fresh.data() + m * J, J, s.cache_rows.data() + size_t(missing_rows[m]) * J);
    if (ilm) {
      s.ilm_rows.resize(s.cache.size() * V);
      for (size_t m = 0; m < missing_rows.size(); ++m) {
        const float* r = fresh_ilm.data() + m * V;
        float* out = s.ilm_rows.data() + size_t(missing_rows[m]) * V;
        // ln P(not blank), to renormalize over the tokens: summed over them, not as ln(1 - P(blank)), which is
        // -inf once P(blank) rounds to 1 in float and would bar every token of this context.
        float top = -std::numeric_limits<float>::infinity();
        for (size_t k = 0; k < V; ++k)
          if (int32_t(k) != blank) top = std::max(top, r[k]);
        double sum = 0;
        for (size_t k = 0; k < V; ++k)
          if (int32_t(k) != blank) sum += std::exp(double(r[k] - top));
        const float tokens = top + float(std::log(sum));
        for (size_t k = 0; k < V; ++k) out[k] = int32_t(k) == blank ? 0.f : r[k] - tokens;
      }
    }
  }
  // Hypotheses with the same decoder context (they differ in biasing state only) get the same joiner row, so the
  // joiner runs once per distinct context (each row of its output depends on its own input row alone).
  std::vector<size_t>& distinct = s.distinct;  // first hypothesis of each distinct context
  std::vector<size_t>& row_of = s.row_of;      // hypothesis -> index into distinct
  distinct.clear();
  row_of.resize(n);
  for (size_t i = 0; i < n; ++i) {
    size_t d = 0;
    while (d < distinct.size() && rows[distinct[d]] != rows[i]) ++d;
    if (d == distinct.size()) distinct.push_back(i);
    row_of[i] = d;
  }
  const size_t u = distinct.size();
  s.dec.resize(u * J);
  for (size_t d = 0; d < u; ++d)
    std::copy_n(s.cache_rows.data() + size_t(rows[distinct[d]]) * J, J, s.dec.data() + d * J);

  s.logp.resize(n * V);
  float* joint = s.logp.data();
  if (u < n) {
    s.joint.resize(u * V);
    joint = s.joint.data();
  }
  scorer_->JointLogProbs(enc_frame, s.dec.data(), u, joint);
  if (u < n)
    for (size_t i = 0; i < n; ++i) std::copy_n(joint + row_of[i] * V, V, s.logp.data() + i * V);
  const float raw_blank = s.logp[size_t(blank)];
  for (size_t i = 0; i < n; ++i) search::ApplyBlankPenalty(s.logp.data() + i * V, V, blank, config_.blank_penalty);
  if (config_.token_reward != 0.f)
    for (size_t i = 0; i < n; ++i) AddAllBut(s.logp.data() + i * V, V, size_t(blank), config_.token_reward);
  // Shallow fusion: the LM's log-probability of each token, scaled, joins the token's score (lm_ is null at scale 0).
  if (lm_) {
    if (s.lm_row_of.size() > kMaxLmRows) s.lm_row_of.clear();  // rows are reused from the start again
    s.lm_row.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const auto [it, added] = s.lm_row_of.try_emplace(hyps[i].key.lm, int32_t(s.lm_row_of.size()));
      const size_t row = size_t(it->second);
      if (added) {
        if (s.lm_rows_logp.size() < (row + 1) * V) {
          s.lm_rows_logp.resize((row + 1) * V);
          s.lm_rows_next.resize((row + 1) * V);
        }
        lm_->ScoreAll(hyps[i].key.lm, s.lm_rows_logp.data() + row * V, s.lm_rows_next.data() + row * V);
      }
      s.lm_row[i] = int32_t(row);
      AddScaledAllBut(s.logp.data() + i * V, s.lm_rows_logp.data() + row * V, V, size_t(blank), config_.lm_scale);
    }
  }
  if (ilm)  // the internal LM's prior out (the blank's entry is 0)
    for (size_t i = 0; i < n; ++i) {
      const float* r = s.ilm_rows.data() + size_t(rows[i]) * V;
      for (size_t k = 0; k < V; ++k) s.logp[i * V + k] -= config_.ilm_scale * r[k];
    }

  // Candidates: hypothesis i followed by blank or token k, scored with the biasing bonus (inside the beam).
  s.bonus.assign(n * V, 0.f);
  s.next.assign(n * V, ContextGraph::kRoot);
  if (graph_)
    for (size_t i = 0; i < n; ++i)
      graph_->ForwardAll(hyps[i].key.state, s.vocab, s.next.data() + i * V, s.bonus.data() + i * V);
  if (grammar_) {
    s.grammar_next.resize(n * V);
    for (size_t i = 0; i < n; ++i) grammar_->NextAll(hyps[i].key.grammar, s.vocab, s.grammar_next.data() + i * V);
  }
  s.scores.resize(n * V);
  for (size_t i = 0; i < n; ++i)
    CandidateScores(hyps[i].total(), s.logp.data() + i * V, s.bonus.data() + i * V, V, size_t(blank),
                    s.scores.data() + i * V);
  if (grammar_)
    for (size_t c = 0; c < n * V; ++c)
      if (int32_t(c % V) != blank && s.grammar_next[c] == Grammar::kRejected) s.scores[c] = search::kNegInf;
  auto grammar_after = [&](size_t i, int32_t k) {
    return grammar_ ? s.grammar_next[i * V + size_t(k)] : Grammar::kStart;
  };
  auto lm_after = [&](size_t i, int32_t k) {
    return lm_ ? s.lm_rows_next[size_t(s.lm_row[i]) * V + size_t(k)] : 0;
  };

  auto key_of = [&](size_t i, int32_t k) {
    if (k == blank) return hyps[i].key;
    const Key& from = hyps[i].key;
    Key key{std::vector<int32_t>(from.context.begin() + 1, from.context.end()), s.next[i * V + size_t(k)],
            grammar_after(i, k), lm_after(i, k)};
    key.context.push_back(k);
    return key;
  };
  auto matches = [&](const Key& key, size_t i, int32_t k) {
    const Key& from = hyps[i].key;
    if (k == blank) return from == key;
    if (key.context.back() != k || s.next[i * V + size_t(k)] != key.state || grammar_after(i, k) != key.grammar ||
        lm_after(i, k) != key.lm)
      return false;
    return std::equal(from.context.begin() + 1, from.context.end(), key.context.begin());
  };

  // The `beam` keys whose best candidates score highest, found in the order of Better. The best few candidates are
  // ordered (SelectBest); more only when merged keys leave the beam short.
  const size_t total = n * V;
  size_t wanted = std::min(total, size_t(config_.beam) + 8);
  SelectBest(s.scores.data(), total, wanted, s.selection_margin, s.order);
  std::vector<Key> keys;
  for (size_t pos = 0; pos < total && keys.size() < size_t(config_.beam); ++pos) {
    if (pos == s.order.size()) {  // rare: the head of the order stays the same with more of it
      wanted = std::min(total, 4 * wanted);
      SelectBest(s.scores.data(), total, wanted, s.selection_margin, s.order);
    }
    const size_t c = size_t(s.order[pos]);
    if (s.scores[c] == search::kNegInf) break;
    const size_t i = c / V;
    const int32_t k = int32_t(c % V);
    if (std::none_of(keys.begin(), keys.end(), [&](const Key& key) { return matches(key, i, k); }))
      keys.push_back(key_of(i, k));
  }
  if (keys.empty())
    throw std::runtime_error("JointLogProbs: no finite log-probability at frame " + std::to_string(s.frames));
  // With a grammar, the best candidate that may end the transcript is kept even when the beam is full of partial
  // phrases, so the audio may end at any frame with a result (the start is final, and a final hypothesis stays final
  // through blanks).
  auto may_end = [&](const Key& key) { return grammar_->IsFinal(key.grammar); };
  if (grammar_ && std::none_of(keys.begin(), keys.end(), may_end)) {
    size_t best_final = total;
    for (size_t c = 0; c < total; ++c) {
      const int32_t k = int32_t(c % V);
      const int32_t after = k == blank ? hyps[c / V].key.grammar : s.grammar_next[c];
      if (s.scores[c] == search::kNegInf || !grammar_->IsFinal(after)) continue;
      if (best_final == total || Better(s.scores.data(), int32_t(c), int32_t(best_final))) best_final = c;
    }
    if (best_final != total) keys.push_back(key_of(best_final / V, int32_t(best_final % V)));
  }

  // Per key: every candidate reaching it (blank from a hypothesis with that key, or its last token from one whose
  // shifted context and next state match). Same token sequence: one group, log-added; the best group survives.
  struct Candidate {
    size_t i;
    int32_t k;
    int32_t seq;  // -1: a sequence no hypothesis holds yet, so it is alone in its group
    double acoustic, bias;
  };
  struct Group {
    int32_t seq;
    size_t best;  // candidate with the best total
    double acoustic, bias;
    double total() const { return acoustic + bias; }
  };
  std::vector<Hyp> next_hyps;
  next_hyps.reserve(keys.size());
  std::vector<Candidate> cands;
  std::vector<Group> groups;
  for (const Key& key : keys) {
    cands.clear();
    groups.clear();
    for (size_t i = 0; i < n; ++i) {
      const Hyp& h = hyps[i];
      const size_t cb = i * V + size_t(blank);
      if (s.scores[cb] != search::kNegInf && matches(key, i, blank))
        cands.push_back({i, blank, h.seq, h.acoustic + double(s.logp[cb]), h.bias});
      const int32_t k = key.context.back();
      const size_t ck = i * V + size_t(k);
      if (k != blank && s.scores[ck] != search::kNegInf && matches(key, i, k))
        cands.push_back({i, k, s.trie.Find(h.seq, k), h.acoustic + double(s.logp[ck]), h.bias + double(s.bonus[ck])});
    }
    for (size_t c = 0; c < cands.size(); ++c) {
      const Candidate& x = cands[c];
      auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return x.seq >= 0 && g.seq == x.seq; });
      if (g == groups.end()) {
        groups.push_back({x.seq, c, x.acoustic, x.bias});
        continue;
      }
      const Candidate& b = cands[g->best];
      if (x.acoustic + x.bias > b.acoustic + b.bias) {
        g->best = c;
        g->bias = x.bias;
      }
      g->acoustic = search::LogAdd(g->acoustic, x.acoustic);
    }
    size_t win = 0;
    for (size_t g = 1; g < groups.size(); ++g)
      if (groups[g].total() > groups[win].total()) win = g;

    const Group& w = groups[win];
    const Candidate& wc = cands[w.best];
    const Hyp& parent = hyps[wc.i];
    Hyp h;
    h.key = key;
    h.acoustic = w.acoustic;
    h.bias = w.bias;
    h.seq = wc.k == blank ? parent.seq : s.trie.Insert(parent.seq, wc.k);
    h.last_emit = wc.k == blank ? parent.last_emit : s.frames;
    h.node = s.lattice.AddNode(s.frames + 1);
    s.lattice.AddArc({parent.node, h.node, wc.k, s.frames, h.acoustic - parent.acoustic, h.bias - parent.bias}, true);
    for (size_t g = 0; g < groups.size(); ++g) {
      if (g == win || !(groups[g].total() >= w.total() - double(config_.lattice_beam))) continue;
      const Candidate& lc = cands[groups[g].best];
      const Hyp& lp = hyps[lc.i];
      s.lattice.AddArc({lp.node, h.node, lc.k, s.frames, groups[g].acoustic - lp.acoustic, groups[g].bias - lp.bias},
                       false);
    }
    next_hyps.push_back(std::move(h));
  }
  SortByTotal(next_hyps);
  s.hyps = std::move(next_hyps);
  s.signals.push_back({raw_blank, s.frames - s.hyps.front().last_emit});
  ++s.frames;
}

void BeamSearch::Settle() {
  SettleBias();
  ScoreEndOfSentence();
}

void BeamSearch::ScoreEndOfSentence() {
  State& s = *s_;
  if (!lm_ || !config_.lm_end_of_sentence || s.finalized || !s.ended.empty()) return;
  // One arc without a token from each hypothesis to a node of its own, as a final weight: the hypotheses themselves
  // stay where they are, so decoding may go on from them (the new nodes are then dead ends, as pruned ones are).
  for (const Hyp& h : s.hyps) {
    const double end = double(config_.lm_scale) * double(lm_->Score(h.key.lm, lm_->vocab_size()).logprob);
    const int32_t node = s.lattice.AddNode(s.frames);
    s.lattice.AddArc({h.node, node, search::kSettleLabel, s.frames, end, 0.0}, true);
    s.ended.push_back({node, h.acoustic + end});
  }
}

void BeamSearch::SettleBias() {
  State& s = *s_;
  auto at_root = [](const Hyp& h) { return h.key.state == ContextGraph::kRoot; };
  if (!graph_ || std::all_of(s.hyps.begin(), s.hyps.end(), at_root)) return;
  s.ended.clear();  // the hypotheses change (a second Settle() at one frame finds them settled and returns above)
  // Refund every pending bonus. States all become the root, so hypotheses alike in context now recombine.
  std::vector<Hyp> settled = s.hyps;
  for (Hyp& h : settled) {
    h.bias += graph_->Settle(h.key.state).bonus;
    h.key.state = ContextGraph::kRoot;
  }
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < settled.size(); ++i) {
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const std::vector<size_t>& g) { return settled[g[0]].key == settled[i].key; });
    if (g == groups.end()) groups.push_back({i});
    else g->push_back(i);
  }
  std::vector<Hyp> next_hyps;
  for (const std::vector<size_t>& g : groups) {
    size_t win = g[0];
    for (size_t i : g)
      if (settled[i].total() > settled[win].total()) win = i;
    Hyp h = settled[win];
    h.node = s.lattice.AddNode(s.frames);
    for (size_t i : g) {
      if (i != win && !(settled[i].total() >= h.total() - double(config_.lattice_beam))) continue;
      const Hyp& parent = s.hyps[i];
      s.lattice.AddArc({parent.node, h.node, search::kSettleLabel, s.frames, 0.0, settled[i].bias - parent.bias},
                       i == win);
    }
    next_hyps.push_back(std::move(h));
  }
  SortByTotal(next_hyps);
  s.hyps = std::move(next_hyps);
}

void BeamSearch::Finalize() {
  State& s = *s_;
  if (s.finalized) return;
  Settle();
  if (!s.ended.empty()) {  // the hypotheses end past their end-of-sentence arcs
    s.hyps = MovedOntoEnds(std::move(s.hyps), s.ended);
    s.ended.clear();
  }
  s.finalized = true;
}

SearchResult BeamSearch::Result() const {
  const State& s = *s_;
  std::vector<search::FinalHyp> finals;
  // With a grammar, a finalized utterance holds only hypotheses that end where a transcript may end; before that, the
  // partial result is the best hypothesis so far, a phrase perhaps unfinished, which is what end-pointers must see.
  // Right after Settle() with an LM, the result is that of an utterance ending here: each hypothesis past its
  // end-of-sentence arc, ranked with it.
  const std::vector<Hyp> ended = s.ended.empty() ? std::vector<Hyp>() : MovedOntoEnds(s.hyps, s.ended);
  for (const Hyp& h : s.ended.empty() ? s.hyps : ended)
    if (!grammar_ || !s.finalized || grammar_->IsFinal(h.key.grammar))
      finals.push_back({h.node, s.trie.Tokens(h.seq), h.acoustic, h.bias});
  return search::BuildResult(s.lattice, finals, tokens_, double(config_.lattice_beam),
                             size_t(config_.max_lattice_arcs), search::Confidence::kPosterior, s.signals, s.finalized);
}

const std::vector<FrameSignal>& BeamSearch::FrameSignals() const { return s_->signals; }
int32_t BeamSearch::NumFrames() const { return s_->frames; }
bool BeamSearch::Finalized() const { return s_->finalized; }
int32_t BeamSearch::NumActive() const { return static_cast<int32_t>(s_->hyps.size()); }

}  // namespace edgeasr
