#include "edgeasr/greedy_search.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "edgeasr/blank_penalty.h"
#include "token_lattice.h"

namespace edgeasr {

void GreedySearchConfig::Validate() const {
  if (!std::isfinite(blank_penalty)) throw std::invalid_argument("blank_penalty: must be finite");
}

std::string GreedySearchConfig::ToString() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "GreedySearchConfig(blank_penalty=%g)", static_cast<double>(blank_penalty));
  return buf;
}

struct GreedySearch::State {
  int32_t vocab = 0, blank = 0;
  std::vector<int32_t> context;
  int32_t graph_state = ContextGraph::kRoot;
  double acoustic = 0, bias = 0;
  std::vector<int32_t> tokens;
  int32_t last_emit = -1;  // frame of the last token
  int32_t node = 0;        // lattice node of the hypothesis
  bool dec_valid = false;  // dec holds the decoder output of `context`
  std::vector<float> dec, logp, bonus;
  std::vector<int32_t> next;
  search::TokenLattice lattice;
  std::vector<FrameSignal> signals;
  int32_t frames = 0;
  bool finalized = false;
};

GreedySearch::GreedySearch(std::shared_ptr<const TransducerScorer> scorer, std::vector<std::string> pieces,
                           const GreedySearchConfig& config, std::shared_ptr<const ContextGraph> context_graph)
    : scorer_(std::move(scorer)),
      tokens_(search::MakeTokenTable(scorer_.get(), std::move(pieces))),
      config_(config),
      graph_(std::move(context_graph)),
      s_(std::make_unique<State>()) {
  config_.Validate();
  search::CheckSearchInputs(scorer_.get(), tokens_, graph_.get());
  s_->vocab = scorer_->vocab_size();
  s_->blank = scorer_->blank_id();
  s_->dec.resize(size_t(scorer_->joiner_dim()));
  s_->logp.resize(size_t(s_->vocab));
  s_->bonus.assign(size_t(s_->vocab), 0.f);
  s_->next.assign(size_t(s_->vocab), ContextGraph::kRoot);
  Reset();
}

GreedySearch::~GreedySearch() = default;

void GreedySearch::Reset() {
  State& s = *s_;
  s.context.assign(size_t(scorer_->context_size()), s.blank);
  s.graph_state = ContextGraph::kRoot;
  s.acoustic = s.bias = 0;
  s.tokens.clear();
  s.last_emit = -1;
  s.dec_valid = false;
  s.lattice.Clear();
  s.node = s.lattice.AddNode(0);
  s.signals.clear();
  s.frames = 0;
  s.finalized = false;
}

void GreedySearch::AcceptFrames(const float* enc, size_t num_frames) {
  if (s_->finalized) throw std::logic_error("AcceptFrames: the utterance is finalized; call Reset() first");
  if (num_frames > 0 && !enc) throw std::invalid_argument("enc: null");
  const size_t dim = size_t(scorer_->joiner_dim());
  for (size_t t = 0; t < num_frames; ++t) ProcessFrame(enc + t * dim);
}

void GreedySearch::ProcessFrame(const float* enc_frame) {
  State& s = *s_;
  if (!s.dec_valid) {
    scorer_->DecoderProjected(s.context.data(), 1, s.dec.data());
    s.dec_valid = true;
  }
  scorer_->JointLogProbs(enc_frame, s.dec.data(), 1, s.logp.data());
  const float raw_blank = s.logp[size_t(s.blank)];
  search::ApplyBlankPenalty(s.logp.data(), size_t(s.vocab), s.blank, config_.blank_penalty);
  if (graph_) graph_->ForwardAll(s.graph_state, s.vocab, s.next.data(), s.bonus.data());

  // First maximum, so ties go to the lower id; non-finite scores never win.
  int32_t best = -1;
  double best_score = search::kNegInf;
  for (int32_t k = 0; k < s.vocab; ++k) {
    const double score = double(s.logp[size_t(k)]) + (k != s.blank ? double(s.bonus[size_t(k)]) : 0.0);
    if (score > best_score) {
      best_score = score;
      best = k;
    }
  }
  if (best < 0) throw std::runtime_error("JointLogProbs: no finite log-probability at frame " +
                                         std::to_string(s.frames));

  const int32_t node = s.lattice.AddNode(s.frames + 1);
  const double lp = s.logp[size_t(best)];
  s.acoustic += lp;
  if (best == s.blank) {
    s.lattice.AddArc({s.node, node, best, s.frames, lp, 0.0}, true);
  } else {
    const double b = s.bonus[size_t(best)];
    s.bias += b;
    s.lattice.AddArc({s.node, node, best, s.frames, lp, b}, true);
    s.context.erase(s.context.begin());
    s.context.push_back(best);
    s.graph_state = s.next[size_t(best)];
    s.tokens.push_back(best);
    s.last_emit = s.frames;
    s.dec_valid = false;
  }
  s.node = node;
  s.signals.push_back({raw_blank, s.frames - s.last_emit});
  ++s.frames;
}

void GreedySearch::Settle() {
  State& s = *s_;
  if (!graph_ || s.graph_state == ContextGraph::kRoot) return;
  const double b = graph_->Settle(s.graph_state).bonus;
  s.bias += b;
  s.graph_state = ContextGraph::kRoot;
  const int32_t node = s.lattice.AddNode(s.frames);
  s.lattice.AddArc({s.node, node, search::kSettleLabel, s.frames, 0.0, b}, true);
  s.node = node;
}

void GreedySearch::Finalize() {
  Settle();
  s_->finalized = true;
}

SearchResult GreedySearch::Result() const {
  const State& s = *s_;
  const std::vector<search::FinalHyp> finals{{s.node, s.tokens, s.acoustic, s.bias}};
  // One path: its lattice is as small as it gets, so no arc budget.
  return search::BuildResult(s.lattice, finals, tokens_, std::numeric_limits<double>::infinity(),
                             std::numeric_limits<size_t>::max(), search::Confidence::kTokenProbs, s.signals, s.finalized);
}

const std::vector<FrameSignal>& GreedySearch::FrameSignals() const { return s_->signals; }
int32_t GreedySearch::NumFrames() const { return s_->frames; }
bool GreedySearch::Finalized() const { return s_->finalized; }

}  // namespace edgeasr
