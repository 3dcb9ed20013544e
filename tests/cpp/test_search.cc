// The search against exact expected answers: a table-driven scorer whose log-probs depend on (frame, context), so
// every score is known; the context graph with characters as tokens ("HE", "SHE", "HERS", "HIS") and hand-worked
// scores, plus a brute-force count of phrase occurrences; beam 1 against greedy; biasing with weight 0 against none;
// chunked against whole input; lattice properties (every N-best path in it, its best path the 1-best, posteriors
// that sum to 1, more paths per byte than the N-best list); the word lattice kept within max_lattice_arcs where it
// would have millions (flat model, rare word starts) with those properties intact; 10,000 phrases; configs and inputs
// that must throw; a grammar's states by hand, and grammar-constrained search against brute force over every
// alignment.
//
// Usage: edgeasr_search_tests [--quick]   (--quick is accepted, for scripts that pass it to every test binary)
// Prints one line per failure and per group, ends with "N passed, M failed"; exits nonzero on any failure.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "edgeasr/beam_search.h"
#include "edgeasr/blank_penalty.h"
#include "edgeasr/context_graph.h"
#include "edgeasr/grammar.h"
#include "edgeasr/greedy_search.h"
#include "edgeasr/ngram_lm.h"
#include "edgeasr/table_scorer.h"
#include "edgeasr/token_table.h"
#include "test_harness.h"

namespace edgeasr {
namespace {

Counts g_counts;

bool Expect(bool ok, const std::string& what) { return g_counts.Check(ok, what); }

bool Near(double got, double want, double tol, const std::string& what) {
  char buf[128];
  std::snprintf(buf, sizeof buf, " (got %.9g, want %.9g)", got, want);
  return Expect(std::abs(got - want) <= tol, what + buf);
}

// Runs f; passes when it throws E whose message contains `field`.
template <typename E = std::invalid_argument>
void ExpectThrows(const std::function<void()>& f, const std::string& field, const std::string& what) {
  try {
    f();
  } catch (const E& e) {
    Expect(std::string(e.what()).find(field) != std::string::npos,
           what + ": message '" + e.what() + "' does not name '" + field + "'");
    return;
  } catch (const std::exception& e) {
    Expect(false, what + ": threw the wrong type: " + e.what());
    return;
  }
  Expect(false, what + ": did not throw");
}

void Group(const char* name, size_t failed_before) {
  std::printf("%-44s %s\n", name, g_counts.failed == failed_before ? "ok" : "FAILED");
}

constexpr double kInf = std::numeric_limits<double>::infinity();
const std::string kWs = "\xE2\x96\x81";  // "▁"

// ---------------------------------------------------------------------------------------------------------------
// Context graph

int32_t Char(char c) { return c - 'A' + 1; }  // 'A' -> 1; 0 stays free for the blank
std::vector<int32_t> Chars(const std::string& s) {
  std::vector<int32_t> t;
  for (char c : s) t.push_back(Char(c));
  return t;
}

std::shared_ptr<ContextGraph> CharGraph(const std::vector<std::pair<std::string, float>>& phrases, float beta,
                                        const std::string& word_continuations = "") {
  std::vector<BiasPhrase> p;
  for (const auto& [s, w] : phrases) p.push_back({Chars(s), w});
  return std::make_shared<ContextGraph>(p, ContextGraphConfig{beta}, Chars(word_continuations));
}

// Running bias after each token, and the settled total.
std::pair<std::vector<double>, double> Feed(const ContextGraph& g, const std::vector<int32_t>& tokens) {
  std::vector<double> running;
  double total = 0;
  int32_t s = ContextGraph::kRoot;
  for (int32_t t : tokens) {
    const ContextGraph::Step step = g.Forward(s, t);
    total += step.bonus;
    s = step.state;
    running.push_back(total);
  }
  return {running, total + g.Settle(s).bonus};
}

void TestContextGraphExact() {
  const size_t before = g_counts.failed;
  // bonus_per_token 1, weight 1: a complete phrase keeps its length.
  const auto g = CharGraph({{"HE", 1}, {"SHE", 1}, {"HERS", 1}, {"HIS", 1}}, 1.f);
  struct Case {
    std::string tokens;
    std::vector<double> running;
    double settled;
  };
  const Case cases[] = {
      // H +1; E completes HE: +1 and HE's 2 kept; R +1; S completes HERS (+1, 4 kept); settling refunds HERS's
      // pending 4: HE + HERS = 6.
      {"HERS", {1, 4, 5, 10}, 6},
      // SHE also contains HE: SHE 3 + HE 2.
      {"SHE", {1, 2, 8}, 5},
      // HI fails on X: its 2 are refunded.
      {"HIX", {1, 2, 0}, 0},
      // SH fails on I but its suffix H is still a prefix (of HIS): keeps 1... then H->HI->HIS.
      {"SHIS", {1, 2, 2, 6}, 3},
      // HE fails on X after completing: the completion stays.
      {"HEX", {1, 4, 2}, 2},
      // Settling in the middle of HERS refunds HER's pending 3, keeps HE.
      {"HER", {1, 4, 5}, 2},
      // HE three times, HERS and SHE: 3*2 + 4 + 3.
      {"HEHERSHE", {1, 4, 3, 6, 7, 12, 10, 16}, 13},
      {"", {}, 0},
      {"XYZ", {0, 0, 0}, 0},
  };
  for (const Case& c : cases) {
    const auto [running, settled] = Feed(*g, Chars(c.tokens));
    Expect(running == c.running, "context graph running bias for '" + c.tokens + "'");
    Near(settled, c.settled, 0, "context graph settled bias for '" + c.tokens + "'");
    Near(g->Score(Chars(c.tokens)), c.settled, 0, "ContextGraph::Score for '" + c.tokens + "'");
  }
  // Pending is the bonus of the longest matched prefix.
  int32_t s = ContextGraph::kRoot;
  for (char ch : std::string("HER")) s = g->Forward(s, Char(ch)).state;
  Near(g->Pending(s), 3, 0, "pending bonus after HER");
  Expect(g->num_phrases() == 4, "four phrases kept");

  // Weights: HE weight 2, HERS weight 1, bonus 0.5 per token. Shared prefix H, E pays the larger per-token bonus
  // (1); R, S pay 0.5. HE earns 0.5*2*2 = 2, HERS 0.5*1*4 = 2.
  const auto w = CharGraph({{"HE", 2}, {"HERS", 1}}, 0.5f);
  {
    const auto [running, settled] = Feed(*w, Chars("HERS"));
    Expect(running == std::vector<double>({1, 4, 4.5, 7}), "weighted running bias for HERS");
    Near(settled, 4, 0, "weighted settled bias for HERS");
    Near(w->Score(Chars("HEX")), 2, 0, "weighted HE then a failure keeps HE's 2");
  }
  // A phrase given twice keeps its largest weight.
  const auto dup = CharGraph({{"HE", 1}, {"HE", 3}}, 1.f);
  Expect(dup->num_phrases() == 1, "duplicate phrase counted once");
  Near(dup->Score(Chars("HE")), 6, 0, "duplicate phrase keeps the larger weight");
  // Weight 0 and bonus 0 leave nothing.
  const auto zero = CharGraph({{"HE", 0}, {"SHE", 0}}, 1.f);
  Expect(zero->num_states() == 1 && zero->num_phrases() == 0, "weight-0 phrases are dropped");
  const auto zero_beta = CharGraph({{"HE", 1}}, 0.f);
  Expect(zero_beta->num_states() == 1, "bonus_per_token 0 drops every phrase");
  Near(zero->Score(Chars("SHE")), 0, 0, "weight-0 graph scores 0");

  // ForwardAll agrees with Forward on every token from every state.
  const auto forward_all_agrees = [](const ContextGraph& g) {
    std::vector<int32_t> next(30);
    std::vector<float> bonus(30);
    bool same = true;
    for (int32_t st = 0; st < g.num_states(); ++st) {
      g.ForwardAll(st, 30, next.data(), bonus.data());
      for (int32_t t = 0; t < 30; ++t) {
        const ContextGraph::Step step = g.Forward(st, t);
        same = same && step.state == next[size_t(t)] && step.bonus == bonus[size_t(t)];
      }
    }
    return same;
  };
  const std::vector<std::pair<std::string, float>> five = {
      {"HE", 1}, {"SHE", 2}, {"HERS", 1}, {"HIS", 0.5f}, {"SHELL", 1}};
  Expect(forward_all_agrees(*CharGraph(five, 1.5f)), "ForwardAll equals Forward for every state and token");

  // Word boundaries: X and R continue a word (pieces without the word-start mark); every other letter starts one.
  const auto wb = CharGraph({{"HE", 1}, {"SHE", 1}, {"HERS", 1}}, 1.f, "XR");
  const Case word_cases[] = {
      // HE then X: the word goes on, so HE's completion (2) goes back with its pending 2.
      {"HEX", {1, 4, 0}, 0},
      // HE then Y, a word start: HE stays.
      {"HEY", {1, 4, 2}, 2},
      // SHE and HE both end before X: both go back.
      {"SHEX", {1, 2, 8, 0}, 0},
      // The second HE follows a word start: it counts.
      {"HEXHE", {1, 4, 0, 1, 4}, 2},
      // R continues the word HE ended in: HE (2) goes back, R still extends HER (+1); S completes HERS.
      {"HERS", {1, 4, 3, 8}, 4},
      // The end of the utterance is a boundary: HE at the end stays.
      {"YHE", {0, 1, 4}, 2},
  };
  for (const Case& c : word_cases) {
    const auto [running, settled] = Feed(*wb, Chars(c.tokens));
    Expect(running == c.running, "word-boundary running bias for '" + c.tokens + "'");
    Near(settled, c.settled, 0, "word-boundary settled bias for '" + c.tokens + "'");
  }
  Expect(wb->ContinuesWord(Char('X')) && !wb->ContinuesWord(Char('Y')) && !wb->ContinuesWord(1000),
         "ContinuesWord: the given ids only");
  Expect(forward_all_agrees(*CharGraph(five, 1.5f, "LSX")), "ForwardAll equals Forward with word continuations");
  Group("context graph: exact scores", before);
}

// Independent of the automaton: Σ over occurrences of B_p, and the pending bonus of the longest suffix that is a
// phrase prefix.
struct NaiveBias {
  std::map<std::vector<int32_t>, float> per_token;  // phrase -> b (largest weight), zero dropped

  std::set<int32_t> continues_word;  // an occurrence followed by one of these does not count

  NaiveBias(const std::vector<BiasPhrase>& phrases, float beta, std::set<int32_t> continuations = {})
      : continues_word(std::move(continuations)) {
    for (const BiasPhrase& p : phrases) {
      const float b = beta * p.weight;
      if (b > 0) per_token[p.tokens] = std::max(per_token[p.tokens], b);
    }
  }
  double Settled(const std::vector<int32_t>& y) const {
    double total = 0;
    for (const auto& [p, b] : per_token)
      for (size_t end = p.size(); end <= y.size(); ++end)
        if (std::equal(p.begin(), p.end(), y.begin() + std::ptrdiff_t(end - p.size())) &&
            (end == y.size() || !continues_word.count(y[end])))
          total += double(b) * double(p.size());
    return total;
  }
  double Pending(const std::vector<int32_t>& y) const {
    for (size_t len = y.size(); len > 0; --len) {
      const std::vector<int32_t> q(y.end() - std::ptrdiff_t(len), y.end());
      double acc = 0;
      bool prefix = false;
      for (size_t d = 1; d <= len; ++d) {
        float best = 0;
        for (const auto& [p, b] : per_token)
          if (p.size() >= d && std::equal(q.begin(), q.begin() + std::ptrdiff_t(d), p.begin()))
            best = std::max(best, b);
        acc += best;
        prefix = best > 0;
      }
      if (prefix) return acc;
    }
    return 0;
  }
};

void TestContextGraphBruteForce() {
  const size_t before = g_counts.failed;
  std::mt19937 rng(7);
  size_t mismatches = 0, streams = 0;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<BiasPhrase> phrases;
    const int n = 1 + int(rng() % 6);
    for (int i = 0; i < n; ++i) {
      BiasPhrase p;
      const int len = 1 + int(rng() % 4);
      for (int k = 0; k < len; ++k) p.tokens.push_back(1 + int32_t(rng() % 3));
      p.weight = 0.5f * float(rng() % 5);  // 0, 0.5, ..., 2: sums stay exact in float
      phrases.push_back(p);
    }
    // Every other trial: a random set of the tokens continue words.
    std::vector<int32_t> continuations;
    if (trial % 2)
      for (int32_t t = 1; t <= 4; ++t)
        if (rng() % 2) continuations.push_back(t);
    const ContextGraph g(phrases, ContextGraphConfig{1.5f}, continuations);
    const NaiveBias naive(phrases, 1.5f, std::set<int32_t>(continuations.begin(), continuations.end()));
    for (int k = 0; k < 10; ++k) {
      std::vector<int32_t> y;
      const int len = int(rng() % 13);
      for (int i = 0; i < len; ++i) y.push_back(1 + int32_t(rng() % 4));
      ++streams;
      const double settled = g.Score(y, true), open = g.Score(y, false);
      int32_t s = ContextGraph::kRoot;
      for (int32_t t : y) s = g.Forward(s, t).state;
      if (std::abs(settled - naive.Settled(y)) > 1e-9 || std::abs(open - settled - naive.Pending(y)) > 1e-9 ||
          std::abs(double(g.Pending(s)) - naive.Pending(y)) > 1e-9)
        ++mismatches;
    }
  }
  Expect(mismatches == 0, "context graph equals brute force on " + std::to_string(streams) + " streams (" +
                              std::to_string(mismatches) + " mismatches)");
  Group("context graph: brute force", before);
}

void TestContextGraphLarge() {
  const size_t before = g_counts.failed;
  std::mt19937 rng(11);
  std::vector<BiasPhrase> phrases(10000);
  for (BiasPhrase& p : phrases) {
    const int len = 1 + int(rng() % 8);
    for (int k = 0; k < len; ++k) p.tokens.push_back(1 + int32_t(rng() % 499));
    p.weight = 1.f + float(rng() % 3);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const ContextGraph g(phrases);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("  10000 phrases: %d states, built in %.1f ms\n", g.num_states(), ms);
  Expect(ms < 2000, "10,000 phrases build in under 2 s");
  // Streams made of phrases and noise, against brute force.
  const NaiveBias naive(phrases, g.config().bonus_per_token);
  size_t mismatches = 0;
  for (int k = 0; k < 5; ++k) {
    std::vector<int32_t> y;
    for (int i = 0; i < 6; ++i) {
      const BiasPhrase& p = phrases[rng() % phrases.size()];
      y.insert(y.end(), p.tokens.begin(), p.tokens.end());
      y.push_back(1 + int32_t(rng() % 499));
    }
    if (std::abs(g.Score(y) - naive.Settled(y)) > 1e-3) ++mismatches;
  }
  Expect(mismatches == 0, "10,000-phrase graph equals brute force");
  Group("context graph: 10,000 phrases", before);
}

// ---------------------------------------------------------------------------------------------------------------
// Searches

// "<blk>", then word-starting pieces "▁w1", "▁w2", with every third a continuation "x3", "x6", ...
std::vector<std::string> Pieces(int32_t vocab) {
  std::vector<std::string> p{"<blk>"};
  for (int32_t i = 1; i < vocab; ++i) p.push_back((i % 3 == 0 ? "x" : kWs + "w") + std::to_string(i));
  return p;
}

std::shared_ptr<TableScorer> RandomScorer(int32_t vocab, uint64_t seed, float scale = 3.f, float blank_bias = 1.f,
                                          int32_t context_size = 2) {
  TableScorerOptions o;
  o.vocab_size = vocab;
  o.context_size = context_size;
  o.seed = seed;
  o.scale = scale;
  o.blank_bias = blank_bias;
  return std::make_shared<TableScorer>(o);
}

std::vector<BiasPhrase> RandomPhrases(std::mt19937& rng, int32_t vocab, int n, float weight_scale = 1.f) {
  std::vector<BiasPhrase> phrases;
  for (int i = 0; i < n; ++i) {
    BiasPhrase p;
    const int len = 1 + int(rng() % 3);
    for (int k = 0; k < len; ++k) p.tokens.push_back(1 + int32_t(rng() % uint32_t(vocab - 1)));
    p.weight = weight_scale * (1.f + float(rng() % 3));
    phrases.push_back(p);
  }
  return phrases;
}

// Feeds frames [0, frames) in chunks of the given sizes (cycled), optionally settling after `settle_at` frames.
void Decode(TransducerSearch& search, const TableScorer& scorer, int32_t frames, std::vector<int32_t> chunks = {},
            int32_t settle_at = -1) {
  if (chunks.empty()) chunks = {frames};
  int32_t t = 0;
  for (size_t c = 0; t < frames; ++c) {
    int32_t n = std::min(chunks[c % chunks.size()], frames - t);
    if (settle_at > t && settle_at < t + n) n = settle_at - t;
    const std::vector<float> enc = scorer.EncoderFrames(t, n);
    search.AcceptFrames(enc.data(), size_t(n));
    t += n;
    if (t == settle_at) search.Settle();
  }
}

bool SameLattice(const WordLattice& a, const WordLattice& b) {
  if (a.node_frames != b.node_frames || a.start != b.start || a.finals != b.finals || a.arcs.size() != b.arcs.size())
    return false;
  for (size_t i = 0; i < a.arcs.size(); ++i) {
    const WordArc &x = a.arcs[i], &y = b.arcs[i];
    if (x.from != y.from || x.to != y.to || x.word != y.word || x.start_frame != y.start_frame ||
        x.end_frame != y.end_frame || x.acoustic != y.acoustic || x.bias != y.bias || x.posterior != y.posterior)
      return false;
  }
  return true;
}

bool SameResult(const SearchResult& a, const SearchResult& b) {
  bool same = a.text == b.text && a.tokens == b.tokens && a.token_frames == b.token_frames && a.score == b.score &&
              a.acoustic == b.acoustic && a.bias == b.bias && a.nbest.size() == b.nbest.size() &&
              a.words.size() == b.words.size() && a.frame_signals.size() == b.frame_signals.size() &&
              SameLattice(a.lattice, b.lattice);
  for (size_t i = 0; same && i < a.nbest.size(); ++i)
    same = a.nbest[i].tokens == b.nbest[i].tokens && a.nbest[i].score == b.nbest[i].score &&
           a.nbest[i].bias == b.nbest[i].bias && a.nbest[i].lattice_final == b.nbest[i].lattice_final;
  for (size_t i = 0; same && i < a.words.size(); ++i)
    same = a.words[i].word == b.words[i].word && a.words[i].confidence == b.words[i].confidence &&
           a.words[i].start_frame == b.words[i].start_frame && a.words[i].end_frame == b.words[i].end_frame;
  for (size_t i = 0; same && i < a.frame_signals.size(); ++i)
    same = a.frame_signals[i].blank_logprob == b.frame_signals[i].blank_logprob &&
           a.frame_signals[i].trailing_blank_frames == b.frame_signals[i].trailing_blank_frames;
  return same;
}

std::vector<std::string> SplitWords(const std::string& text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    const size_t j = text.find(' ', i);
    words.push_back(text.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return words;
}

// Best score of a lattice path from the start to `final_node` whose words are `words` ("" arcs skip no word).
double BestPathWith(const WordLattice& lat, const std::vector<std::string>& words, int32_t final_node) {
  const size_t w = words.size();
  std::vector<std::vector<double>> best(size_t(lat.num_nodes()), std::vector<double>(w + 1, -kInf));
  best[size_t(lat.start)][0] = 0;
  for (const WordArc& a : lat.arcs)
    for (size_t j = 0; j <= w; ++j) {
      const double b = best[size_t(a.from)][j];
      if (b == -kInf) continue;
      if (a.word.empty()) best[size_t(a.to)][j] = std::max(best[size_t(a.to)][j], b + a.score());
      else if (j < w && a.word == words[j])
        best[size_t(a.to)][j + 1] = std::max(best[size_t(a.to)][j + 1], b + a.score());
    }
  return final_node < 0 ? -kInf : best[size_t(final_node)][w];
}

// Every path of a small lattice: text -> score (texts must be distinct).
void EnumeratePaths(const WordLattice& lat, int32_t v, const std::string& text, double score,
                    std::map<std::string, std::vector<double>>* out) {
  if (std::find(lat.finals.begin(), lat.finals.end(), v) != lat.finals.end()) (*out)[text].push_back(score);
  for (const WordArc& a : lat.arcs)
    if (a.from == v)
      EnumeratePaths(lat, a.to, a.word.empty() ? text : (text.empty() ? a.word : text + " " + a.word),
                     score + a.score(), out);
}

void TestGreedyExact() {
  const size_t before = g_counts.failed;
  TableScorerOptions o;
  o.vocab_size = 3;
  auto scorer = std::make_shared<TableScorer>(o);
  scorer->Set(0, {0, 0}, {0.f, 2.f, 0.f});  // a
  scorer->Set(1, {0, 1}, {3.f, 0.f, 0.f});  // blank
  scorer->Set(2, {0, 1}, {0.f, 0.f, 1.f});  // b
  const std::vector<std::string> pieces{"<blk>", kWs + "a", kWs + "b"};
  GreedySearch greedy(scorer, pieces);
  Decode(greedy, *scorer, 3);
  greedy.Finalize();
  const SearchResult r = greedy.Result();
  const auto l0 = scorer->LogProbs(0, {0, 0}), l1 = scorer->LogProbs(1, {0, 1}), l2 = scorer->LogProbs(2, {0, 1});
  Expect(r.text == "a b", "greedy text: '" + r.text + "'");
  Expect(r.tokens == std::vector<int32_t>({1, 2}), "greedy tokens");
  Expect(r.token_frames == std::vector<int32_t>({0, 2}), "greedy token frames");
  Near(r.acoustic, double(l0[1]) + double(l1[0]) + double(l2[2]), 1e-12, "greedy acoustic score");
  Near(r.bias, 0, 0, "greedy bias without a graph");
  Expect(r.words.size() == 2 && r.words[0].word == "a" && r.words[0].start_frame == 0 && r.words[0].end_frame == 0 &&
             r.words[1].word == "b" && r.words[1].start_frame == 2,
         "greedy words and frames");
  if (r.words.size() == 2) Near(r.words[0].confidence, std::exp(double(l0[1])), 1e-6, "greedy word confidence");
  Expect(r.frame_signals.size() == 3 && r.frame_signals[0].blank_logprob == l0[0] &&
             r.frame_signals[1].blank_logprob == l1[0] && r.frame_signals[2].blank_logprob == l2[0],
         "greedy frame signals: blank log-probs");
  Expect(r.frame_signals.size() == 3 && r.frame_signals[0].trailing_blank_frames == 0 &&
             r.frame_signals[1].trailing_blank_frames == 1 && r.frame_signals[2].trailing_blank_frames == 0,
         "greedy frame signals: trailing blank frames");
  Expect(r.nbest.size() == 1 && r.lattice.CountPaths() == 1 && r.lattice.arcs.size() == 2, "greedy lattice: one path");
  Expect(r.final, "greedy result is final");

  // A blank penalty large enough makes every frame emit: one symbol per frame, never more.
  GreedySearch eager(scorer, pieces, GreedySearchConfig{100.f});
  Decode(eager, *scorer, 3);
  Expect(eager.Result().token_frames == std::vector<int32_t>({0, 1, 2}), "blank penalty: one token per frame");
  Group("greedy: exact", before);
}

// Context size 1, three frames' worth of keys: every sequence of two frames is either a survivor or recombined, so
// the lattice (lattice_beam infinite) holds all seven with their exact scores.
void TestBeamExactRecombination() {
  const size_t before = g_counts.failed;
  TableScorerOptions o;
  o.vocab_size = 3;
  o.context_size = 1;
  auto scorer = std::make_shared<TableScorer>(o);
  scorer->Set(0, {0}, {0.0f, 0.5f, 0.2f});
  scorer->Set(1, {0}, {0.3f, 0.1f, 0.0f});
  scorer->Set(1, {1}, {0.2f, 0.4f, 0.1f});
  scorer->Set(1, {2}, {0.0f, 1.0f, 0.3f});
  const auto l0 = scorer->LogProbs(0, {0});
  const auto a = scorer->LogProbs(1, {0}), b = scorer->LogProbs(1, {1}), c = scorer->LogProbs(1, {2});
  auto logadd = [](double x, double y) { return std::max(x, y) + std::log1p(std::exp(-std::abs(x - y))); };
  const std::map<std::string, double> want = {
      {"", double(l0[0]) + a[0]},
      {"w1", logadd(double(l0[1]) + b[0], double(l0[0]) + a[1])},  // two alignments, log-added
      {"w2", logadd(double(l0[2]) + c[0], double(l0[0]) + a[2])},
      {"w1 w1", double(l0[1]) + b[1]},
      {"w1 w2", double(l0[1]) + b[2]},
      {"w2 w1", double(l0[2]) + c[1]},
      {"w2 w2", double(l0[2]) + c[2]},
  };
  // Keys (the last token): "" alone; w1 <- {w1, w1 w1, w2 w1}; w2 <- {w2, w1 w2, w2 w2}; the best of each survives.
  std::vector<std::pair<double, std::string>> survivors{{want.at(""), ""}};
  for (const auto& group : {std::vector<std::string>{"w1", "w1 w1", "w2 w1"}, {"w2", "w1 w2", "w2 w2"}}) {
    std::pair<double, std::string> best{-kInf, ""};
    for (const std::string& t : group) best = std::max(best, {want.at(t), t});
    survivors.push_back(best);
  }
  std::sort(survivors.rbegin(), survivors.rend());

  BeamSearchConfig config;
  config.beam = 3;
  config.lattice_beam = std::numeric_limits<float>::infinity();
  BeamSearch search(scorer, Pieces(3), config);
  Decode(search, *scorer, 2);
  search.Finalize();
  const SearchResult r = search.Result();
  Expect(r.nbest.size() == 3, "beam 3 keeps three hypotheses");
  for (size_t i = 0; i < std::min<size_t>(3, r.nbest.size()); ++i) {
    Expect(r.nbest[i].text == survivors[i].second,
           "N-best " + std::to_string(i) + ": '" + r.nbest[i].text + "' want '" + survivors[i].second + "'");
    Near(r.nbest[i].score, survivors[i].first, 1e-9, "N-best score of '" + survivors[i].second + "'");
  }
  std::map<std::string, std::vector<double>> paths;
  EnumeratePaths(r.lattice, r.lattice.start, "", 0, &paths);
  Expect(paths.size() == want.size() && r.lattice.CountPaths() == double(want.size()),
         "the lattice holds all seven sequences, once each (" + std::to_string(r.lattice.CountPaths()) + " paths)");
  for (const auto& [text, score] : want) {
    const auto it = paths.find(text);
    if (Expect(it != paths.end() && it->second.size() == 1, "lattice path '" + text + "' present once"))
      Near(it->second[0], score, 1e-5, "lattice path score of '" + text + "'");
  }
  double into_finals = 0;
  for (const WordArc& arc : r.lattice.arcs)
    if (std::find(r.lattice.finals.begin(), r.lattice.finals.end(), arc.to) != r.lattice.finals.end())
      into_finals += arc.posterior;
  Near(into_finals, 1, 1e-5, "posteriors into the final nodes sum to 1");

  // A lattice beam keeps only paths within it of the best, but always the N-best ones.
  config.lattice_beam = 0.f;
  BeamSearch tight(scorer, Pieces(3), config);
  Decode(tight, *scorer, 2);
  const SearchResult rt = tight.Result();
  Expect(rt.lattice.CountPaths() == 3, "lattice beam 0 keeps just the three N-best paths");
  Group("beam search: exact recombination", before);
}

// The penalty on log-probs equals the log-softmax of logits whose blank is lowered by it (sherpa-onnx's meaning),
// also where the blank holds almost all the mass, and for a penalty so large that e^-penalty underflows.
void TestBlankPenaltyIsShiftedLogit() {
  const size_t before = g_counts.failed;
  std::mt19937 rng(11);
  std::normal_distribution<double> normal(0.0, 3.0);
  auto log_softmax = [](std::vector<double> x) {  // log1p of the others' mass: exact where the top one is ~1
    const size_t top = size_t(std::max_element(x.begin(), x.end()) - x.begin());
    const double hi = x[top];
    double others = 0.0;
    for (size_t k = 0; k < x.size(); ++k)
      if (k != top) others += std::exp(x[k] - hi);
    for (double& v : x) v -= hi + std::log1p(others);
    return x;
  };
  int rows = 0;
  for (double blank_boost : {0.0, 8.0, 40.0}) {
    for (float penalty : {0.25f, 1.f, 3.f, 800.f, -0.5f}) {
      for (int trial = 0; trial < 5; ++trial, ++rows) {
        const size_t vocab = 2 + size_t(trial) * 7;
        const int32_t blank = trial % 2;
        std::vector<double> logits(vocab);
        for (double& v : logits) v = normal(rng);
        logits[size_t(blank)] += blank_boost;
        std::vector<double> shifted = logits;
        shifted[size_t(blank)] -= double(penalty);
        const std::vector<double> want = log_softmax(shifted), plain = log_softmax(logits);
        std::vector<float> got(plain.begin(), plain.end());
        search::ApplyBlankPenalty(got.data(), vocab, blank, penalty);
        for (size_t k = 0; k < vocab; ++k)
          Near(got[k], want[k], 1e-4 * (1.0 + std::fabs(want[k])),
               "penalty " + std::to_string(penalty) + ", blank boost " + std::to_string(blank_boost) + ", entry " +
                   std::to_string(k));
      }
    }
  }
  std::vector<float> row = {-0.5f, -1.5f, -2.f};
  const std::vector<float> same = row;
  search::ApplyBlankPenalty(row.data(), row.size(), 0, 0.f);
  Expect(row == same, "penalty 0 leaves the row bit-identical");
  std::printf("  %d rows compared\n", rows);
  Group("blank penalty == lowered blank logit", before);
}

// token_reward r decodes exactly as no reward on a network whose token log-probs are all raised by r: tokens, frames,
// scores, N-best and lattice (without a blank penalty, which renormalizes over the tokens' mass first). A positive
// reward emits more.
class RewardedScorer final : public TransducerScorer {
 public:
  RewardedScorer(std::shared_ptr<const TableScorer> base, float reward) : base_(std::move(base)), reward_(reward) {}
  int vocab_size() const override { return base_->vocab_size(); }
  int blank_id() const override { return base_->blank_id(); }
  int context_size() const override { return base_->context_size(); }
  int joiner_dim() const override { return base_->joiner_dim(); }
  void DecoderProjected(const int32_t* contexts, size_t n, float* dec) const override {
    base_->DecoderProjected(contexts, n, dec);
  }
  void JointLogProbs(const float* enc_frame, const float* dec, size_t n, float* log_probs) const override {
    base_->JointLogProbs(enc_frame, dec, n, log_probs);
    const size_t V = size_t(vocab_size());
    for (size_t i = 0; i < n; ++i)
      for (size_t k = 0; k < V; ++k)
        if (int32_t(k) != blank_id()) log_probs[i * V + k] += reward_;
  }

 private:
  std::shared_ptr<const TableScorer> base_;
  float reward_;
};

void TestTokenRewardIsRaisedTokenLogProbs() {
  const size_t before = g_counts.failed;
  std::mt19937 rng(17);
  size_t tokens_plain = 0, tokens_rewarded = 0;
  for (uint64_t seed = 60; seed < 68; ++seed) {
    const int32_t vocab = 7 + int32_t(seed % 4);
    auto scorer = RandomScorer(vocab, seed, 2.f, 1.5f);
    const float reward = seed % 2 ? 0.75f : -0.4f;
    std::shared_ptr<const ContextGraph> graph;
    if (seed % 3 == 0) graph = std::make_shared<ContextGraph>(RandomPhrases(rng, vocab, 5));
    BeamSearchConfig rewarded_config;
    rewarded_config.token_reward = reward;
    BeamSearch rewarded(scorer, Pieces(vocab), rewarded_config, graph);
    BeamSearch raised(std::make_shared<RewardedScorer>(scorer, reward), Pieces(vocab), {}, graph);
    BeamSearch plain(scorer, Pieces(vocab), {}, graph);
    for (TransducerSearch* s : std::vector<TransducerSearch*>{&rewarded, &raised, &plain}) {
      Decode(*s, *scorer, 45, {6}, 20);
      s->Finalize();
    }
    const SearchResult r = rewarded.Result();
    Expect(SameResult(r, raised.Result()), "token_reward " + std::to_string(reward) +
                                               " == token log-probs raised by it, seed " + std::to_string(seed));
    if (reward > 0) {
      tokens_rewarded += r.tokens.size();
      tokens_plain += plain.Result().tokens.size();
    }
  }
  Expect(tokens_rewarded > tokens_plain, "a positive token reward emits more tokens (" +
                                             std::to_string(tokens_rewarded) + " against " +
                                             std::to_string(tokens_plain) + ")");
  Group("token reward == raised token log-probs", before);
}

void TestBeamOneEqualsGreedy() {
  const size_t before = g_counts.failed;
  std::mt19937 rng(3);
  int compared = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    const int32_t vocab = 6 + int32_t(seed % 7);
    auto scorer = RandomScorer(vocab, seed, 2.f + float(seed % 3), 0.5f);
    for (bool biased : {false, true}) {
      std::shared_ptr<const ContextGraph> graph;
      if (biased) graph = std::make_shared<ContextGraph>(RandomPhrases(rng, vocab, 6));
      const float penalty = seed % 2 ? 0.5f : 0.f;
      GreedySearch greedy(scorer, Pieces(vocab), GreedySearchConfig{penalty}, graph);
      BeamSearchConfig bc;
      bc.beam = 1;
      bc.blank_penalty = penalty;
      BeamSearch beam(scorer, Pieces(vocab), bc, graph);
      Decode(greedy, *scorer, 60, {7}, 31);
      Decode(beam, *scorer, 60, {5}, 31);
      greedy.Finalize();
      beam.Finalize();
      const SearchResult a = greedy.Result(), b = beam.Result();
      bool same = a.tokens == b.tokens && a.token_frames == b.token_frames && a.acoustic == b.acoustic &&
                  a.bias == b.bias && a.text == b.text && a.frame_signals.size() == b.frame_signals.size();
      for (size_t i = 0; same && i < a.frame_signals.size(); ++i)
        same = a.frame_signals[i].blank_logprob == b.frame_signals[i].blank_logprob &&
               a.frame_signals[i].trailing_blank_frames == b.frame_signals[i].trailing_blank_frames;
      Expect(same, "beam 1 == greedy (seed " + std::to_string(seed) + (biased ? ", biased)" : ")") + ": '" + a.text +
                       "' vs '" + b.text + "'");
      ++compared;
    }
  }
  std::printf("  %d decodes compared\n", compared);
  Group("beam 1 == greedy", before);
}

void TestWeightZeroIsNoBiasing() {
  const size_t before = g_counts.failed;
  std::mt19937 rng(5);
  for (uint64_t seed = 20; seed < 26; ++seed) {
    const int32_t vocab = 10;
    auto scorer = RandomScorer(vocab, seed);
    auto zero = std::make_shared<ContextGraph>(RandomPhrases(rng, vocab, 20, 0.f));
    BeamSearch plain(scorer, Pieces(vocab));
    BeamSearch weighted(scorer, Pieces(vocab), {}, zero);
    GreedySearch gplain(scorer, Pieces(vocab));
    GreedySearch gweighted(scorer, Pieces(vocab), {}, zero);
    for (TransducerSearch* s : std::vector<TransducerSearch*>{&plain, &weighted, &gplain, &gweighted}) {
      Decode(*s, *scorer, 40, {}, 17);
      s->Finalize();
    }
    Expect(SameResult(plain.Result(), weighted.Result()), "beam: weight 0 == no biasing, seed " + std::to_string(seed));
    Expect(SameResult(gplain.Result(), gweighted.Result()), "greedy: weight 0 == no biasing, seed " +
                                                                std::to_string(seed));
  }
  Group("biasing weight 0 == none", before);
}

void TestStreaming() {
  const size_t before = g_counts.failed;
  std::mt19937 rng(9);
  for (uint64_t seed = 30; seed < 36; ++seed) {
    const int32_t vocab = 9;
    auto scorer = RandomScorer(vocab, seed);
    auto graph = std::make_shared<ContextGraph>(RandomPhrases(rng, vocab, 8));
    BeamSearchConfig config;
    config.beam = 5;
    BeamSearch whole(scorer, Pieces(vocab), config, graph), chunked(scorer, Pieces(vocab), config, graph);
    Decode(whole, *scorer, 45, {}, 23);
    // Chunks of 1, 2, 5, 3 frames, with partial results read in between.
    int32_t t = 0;
    const int32_t sizes[] = {1, 2, 5, 3};
    for (size_t c = 0; t < 45; ++c) {
      int32_t n = std::min(sizes[c % 4], 45 - t);
      if (t < 23 && t + n > 23) n = 23 - t;
      const std::vector<float> enc = scorer->EncoderFrames(t, n);
      chunked.AcceptFrames(enc.data(), size_t(n));
      t += n;
      if (t == 23) chunked.Settle();
      (void)chunked.Result();
    }
    whole.Finalize();
    chunked.Finalize();
    Expect(SameResult(whole.Result(), chunked.Result()), "chunked == whole, seed " + std::to_string(seed));
    GreedySearch gw(scorer, Pieces(vocab), {}, graph), gc(scorer, Pieces(vocab), {}, graph);
    Decode(gw, *scorer, 45);
    Decode(gc, *scorer, 45, {1, 4, 2});
    Expect(SameResult(gw.Result(), gc.Result()), "greedy chunked == whole, seed " + std::to_string(seed));
  }
  Group("streaming: chunks == whole", before);
}

// Complete matches of the tokens before frame `settled_at` and of those after: a phrase does not span a Settle().
double SettledBias(const NaiveBias& naive, const NbestEntry& e, int32_t settled_at) {
  const auto split = std::lower_bound(e.token_frames.begin(), e.token_frames.end(), settled_at);
  const auto k = std::ptrdiff_t(split - e.token_frames.begin());
  return naive.Settled({e.tokens.begin(), e.tokens.begin() + k}) +
         naive.Settled({e.tokens.begin() + k, e.tokens.end()});
}

void CheckLattice(const SearchResult& r, const std::string& name, const NaiveBias* naive, int32_t settled_at = -1) {
  const WordLattice& lat = r.lattice;
  const double tol = 1e-3 * (1 + std::abs(r.score));
  // Structure.
  bool ordered = lat.start == 0 && !lat.finals.empty();
  for (size_t i = 0; i < lat.arcs.size(); ++i)
    ordered = ordered && lat.arcs[i].from < lat.arcs[i].to && lat.arcs[i].to < lat.num_nodes() &&
              (i == 0 || lat.arcs[i - 1].from <= lat.arcs[i].from);
  Expect(ordered, name + ": arcs topological and sorted");
  // N-best: sorted, score = acoustic + bias, each a lattice path with its own score.
  for (size_t i = 0; i < r.nbest.size(); ++i) {
    const NbestEntry& e = r.nbest[i];
    Expect(i == 0 || r.nbest[i - 1].score >= e.score, name + ": N-best sorted");
    Near(e.score, e.acoustic + e.bias, 1e-9, name + ": score = acoustic + bias");
    Near(BestPathWith(lat, SplitWords(e.text), e.lattice_final), e.score, tol,
         name + ": N-best " + std::to_string(i) + " '" + e.text + "' is a lattice path with its score");
    if (naive && r.final)
      Near(e.bias, SettledBias(*naive, e, settled_at), 1e-3, name + ": settled bias = complete matches");
    bool frames_ok = e.token_frames.size() == e.tokens.size();
    for (size_t k = 1; frames_ok && k < e.token_frames.size(); ++k)
      frames_ok = e.token_frames[k - 1] < e.token_frames[k];
    Expect(frames_ok, name + ": N-best token frames increase");
  }
  // The best path is the 1-best.
  std::string best_text;
  double best_score = 0;
  for (int32_t k : lat.BestPath()) {
    const WordArc& a = lat.arcs[size_t(k)];
    if (!a.word.empty()) best_text += (best_text.empty() ? "" : " ") + a.word;
    best_score += a.score();
  }
  Expect(best_text == r.text, name + ": lattice best path '" + best_text + "' is the 1-best '" + r.text + "'");
  Near(best_score, r.score, tol, name + ": lattice best path score");
  // Posteriors: what enters a node leaves it (the start gets 1); what reaches the finals is 1.
  std::vector<double> in(size_t(lat.num_nodes()), 0.0), out(size_t(lat.num_nodes()), 0.0);
  in[size_t(lat.start)] = 1;
  for (const WordArc& a : lat.arcs) {
    in[size_t(a.to)] += a.posterior;
    out[size_t(a.from)] += a.posterior;
  }
  double worst = 0, final_mass = 0;
  for (int32_t v = 0; v < lat.num_nodes(); ++v) {
    if (std::find(lat.finals.begin(), lat.finals.end(), v) != lat.finals.end()) final_mass += in[size_t(v)];
    else worst = std::max(worst, std::abs(in[size_t(v)] - out[size_t(v)]));
  }
  Expect(worst < 1e-4, name + ": posteriors leaving each node sum to its posterior (worst " + std::to_string(worst) +
                           ")");
  Near(final_mass, 1, 1e-4, name + ": posteriors into finals sum to 1");
  // Words of the 1-best.
  std::string joined;
  bool words_ok = true;
  for (const WordResult& w : r.words) {
    joined += (joined.empty() ? "" : " ") + w.word;
    words_ok = words_ok && w.confidence >= 0.f && w.confidence <= 1.f && w.start_frame <= w.end_frame;
  }
  Expect(words_ok && joined == r.text, name + ": words join to the text, confidences in [0, 1]");
  bool frames_ok = r.token_frames.size() == r.tokens.size();
  for (size_t i = 1; frames_ok && i < r.token_frames.size(); ++i) frames_ok = r.token_frames[i - 1] < r.token_frames[i];
  Expect(frames_ok, name + ": one token per frame at most");
}

void TestLatticeProperties() {
  const size_t before = g_counts.failed;
  std::mt19937 rng(13);
  double paths_per_byte = 0, nbest_per_byte = 0;
  for (uint64_t seed = 40; seed < 52; ++seed) {
    const int32_t vocab = 8 + int32_t(seed % 5);
    auto scorer = RandomScorer(vocab, seed, 1.5f, 1.5f);
    const std::vector<BiasPhrase> phrases = RandomPhrases(rng, vocab, 6);
    auto graph = std::make_shared<ContextGraph>(phrases);
    const NaiveBias naive(phrases, graph->config().bonus_per_token);
    for (int32_t beam : {4, 8})
      for (float lattice_beam : {8.f, std::numeric_limits<float>::infinity()}) {
        BeamSearchConfig config;
        config.beam = beam;
        config.lattice_beam = lattice_beam;
        config.token_reward = seed % 2 ? 0.5f : 0.f;  // counts in the arcs' scores: the invariants hold as well
        BeamSearch search(scorer, Pieces(vocab), config, graph);
        Decode(search, *scorer, 50, {}, 25);
        const std::string name = "seed " + std::to_string(seed) + " beam " + std::to_string(beam) + " lattice_beam " +
                                 std::to_string(lattice_beam);
        CheckLattice(search.Result(), name + " (partial)", nullptr);
        search.Finalize();
        const SearchResult r = search.Result();
        CheckLattice(r, name, &naive, 25);
        if (seed == 40)
          std::printf("  seed 40, beam %d, lattice_beam %g: %d nodes, %zu arcs, %zu bytes, %.3g paths\n", beam,
                      double(lattice_beam), r.lattice.num_nodes(), r.lattice.arcs.size(), r.lattice.SerializedSize(),
                      r.lattice.CountPaths());
        if (beam == 8 && std::isinf(lattice_beam)) {
          size_t nbest_bytes = 0;
          for (const NbestEntry& e : r.nbest) nbest_bytes += e.text.size() + 1 + 4;
          paths_per_byte += r.lattice.CountPaths() / double(r.lattice.SerializedSize());
          nbest_per_byte += double(r.nbest.size()) / double(nbest_bytes);
        }
      }
  }
  std::printf("  distinct paths per byte: lattice %.3g, N-best list %.3g\n", paths_per_byte / 12,
              nbest_per_byte / 12);
  Expect(paths_per_byte > nbest_per_byte, "the lattice holds more distinct paths per byte than the N-best list");
  Group("lattice properties", before);
}

// Characters as pieces, a word start ("▁x") only every `every`-th: words dozens of tokens long.
std::vector<std::string> CharPieces(int32_t vocab, int32_t every) {
  std::vector<std::string> p{"<blk>"};
  for (int32_t i = 1; i < vocab; ++i)
    p.push_back((i % every == 0 ? kWs : std::string()) + std::string(1, char('a' + (i - 1) % 26)) +
                (i > 26 ? std::to_string(i) : ""));
  return p;
}

SearchResult DecodeOnce(const std::shared_ptr<TableScorer>& scorer, const std::vector<std::string>& pieces,
                        const BeamSearchConfig& config, int32_t frames,
                        const std::shared_ptr<const ContextGraph>& graph = nullptr, int32_t settle_at = -1,
                        double* result_ms = nullptr) {
  BeamSearch search(scorer, pieces, config, graph);
  Decode(search, *scorer, frames, {}, settle_at);
  search.Finalize();
  const auto t0 = std::chrono::steady_clock::now();
  SearchResult r = search.Result();
  if (result_ms) *result_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

bool SameNbest(const SearchResult& a, const SearchResult& b) {
  bool same = a.text == b.text && a.score == b.score && a.token_frames == b.token_frames &&
              a.nbest.size() == b.nbest.size();
  for (size_t i = 0; same && i < a.nbest.size(); ++i)
    same = a.nbest[i].tokens == b.nbest[i].tokens && a.nbest[i].score == b.nbest[i].score &&
           a.nbest[i].token_frames == b.nbest[i].token_frames;
  return same;
}

// Flat distributions, context size 1 (so recombination everywhere) and word starts rare: without a limit the word
// lattice of 50 frames has millions of arcs (each distinct spelling of a long word is an arc). With max_lattice_arcs
// it stays within the limit, its best path is the 1-best, every N-best path is in it, posteriors sum to 1, and the
// N-best list is what it is without the limit.
void TestLatticeBudget() {
  const size_t before = g_counts.failed;
  const int32_t vocab = 30;
  const std::vector<std::string> pieces = CharPieces(vocab, 10);
  size_t pruned = 0, nbest_only = 0;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    auto scorer = RandomScorer(vocab, seed, 1.f, 0.f, 1);
    BeamSearchConfig config;  // beam 4, lattice_beam 8, max_lattice_arcs 20000
    double ms = 0;
    const SearchResult r = DecodeOnce(scorer, pieces, config, 50, nullptr, -1, &ms);
    const std::string name = "budget seed " + std::to_string(seed);
    std::printf("  %s: %zu arcs (beam %g), %.3g paths, Result() %.1f ms\n", name.c_str(), r.lattice.arcs.size(),
                double(r.lattice.beam), r.lattice.CountPaths(), ms);
    Expect(r.lattice.arcs.size() <= size_t(config.max_lattice_arcs),
           name + ": " + std::to_string(r.lattice.arcs.size()) + " arcs within max_lattice_arcs");
    Expect(r.lattice.beam < config.lattice_beam, name + ": the budget pruned it (else the test proves nothing)");
    CheckLattice(r, name, nullptr);

    // Smaller budgets: within them, or (when even the N-best paths need more) exactly the N-best paths.
    for (int32_t max_arcs : {1, 20, 300, 3000}) {
      BeamSearchConfig small = config;
      small.max_lattice_arcs = max_arcs;
      const SearchResult s = DecodeOnce(scorer, pieces, small, 50);
      const std::string sname = name + " max_lattice_arcs " + std::to_string(max_arcs);
      const bool only_nbest = s.lattice.beam == 0.f;
      nbest_only += only_nbest;
      pruned += s.lattice.beam > 0.f && s.lattice.beam < config.lattice_beam;
      Expect(s.lattice.arcs.size() <= size_t(max_arcs) || only_nbest,
             sname + ": " + std::to_string(s.lattice.arcs.size()) + " arcs");
      if (only_nbest)
        Expect(s.lattice.CountPaths() == double(s.nbest.size()), sname + ": N-best only: as many paths as N-best");
      Expect(SameNbest(r, s), sname + ": the N-best list does not depend on the lattice budget");
      CheckLattice(s, sname, nullptr);
    }
    BeamSearchConfig one = config;
    one.max_lattice_arcs = 1;
    Expect(DecodeOnce(scorer, pieces, one, 50).lattice.arcs.size() > 1,
           name + ": the N-best paths are kept even where they need more than max_lattice_arcs");

    // An infinite lattice beam is bounded all the same; so is a longer utterance with a wider beam, with biasing.
    BeamSearchConfig inf = config;
    inf.lattice_beam = std::numeric_limits<float>::infinity();
    const SearchResult ri = DecodeOnce(scorer, pieces, inf, 50);
    Expect(ri.lattice.arcs.size() <= size_t(inf.max_lattice_arcs), name + ": lattice_beam inf within the budget");
    CheckLattice(ri, name + " lattice_beam inf", nullptr);
    std::mt19937 rng{uint32_t(seed)};
    const std::vector<BiasPhrase> phrases = RandomPhrases(rng, vocab, 8);
    auto graph = std::make_shared<ContextGraph>(phrases);
    const NaiveBias naive(phrases, graph->config().bonus_per_token);
    BeamSearchConfig wide = config;
    wide.beam = 8;
    const SearchResult rl = DecodeOnce(scorer, pieces, wide, 300, graph, 150, &ms);
    std::printf("  %s, beam 8, 300 frames, biased: %zu arcs (beam %g), Result() %.1f ms\n", name.c_str(),
                rl.lattice.arcs.size(), double(rl.lattice.beam), ms);
    Expect(rl.lattice.arcs.size() <= size_t(wide.max_lattice_arcs), name + ": 300 frames within the budget");
    CheckLattice(rl, name + " 300 frames biased", &naive, 150);

    // Streaming: pruned the same whatever the chunks.
    BeamSearch whole(scorer, pieces, config), chunked(scorer, pieces, config);
    Decode(whole, *scorer, 50);
    Decode(chunked, *scorer, 50, {3, 7, 1});
    Expect(SameResult(whole.Result(), chunked.Result()), name + ": chunked == whole under the budget");
  }
  Expect(pruned > 0 && nbest_only > 0, "both a tightened beam and the N-best paths alone were seen");

  // A lattice within the budget comes out as without it.
  for (uint64_t seed = 40; seed < 46; ++seed) {
    const int32_t vocab2 = 8 + int32_t(seed % 5);
    auto scorer = RandomScorer(vocab2, seed, 1.5f, 1.5f);
    BeamSearchConfig big, exact;
    big.beam = exact.beam = 8;
    big.lattice_beam = exact.lattice_beam = std::numeric_limits<float>::infinity();
    big.max_lattice_arcs = std::numeric_limits<int32_t>::max();
    const SearchResult unlimited = DecodeOnce(scorer, Pieces(vocab2), big, 50);
    exact.max_lattice_arcs = int32_t(unlimited.lattice.arcs.size());
    const SearchResult limited = DecodeOnce(scorer, Pieces(vocab2), exact, 50);
    Expect(SameResult(unlimited, limited) && std::isinf(limited.lattice.beam),
           "seed " + std::to_string(seed) + ": a lattice of exactly max_lattice_arcs arcs (" +
               std::to_string(exact.max_lattice_arcs) + ") is left as it is");
    exact.max_lattice_arcs -= 1;
    const SearchResult over = DecodeOnce(scorer, Pieces(vocab2), exact, 50);
    Expect(over.lattice.arcs.size() <= size_t(exact.max_lattice_arcs) && over.lattice.beam < 1e30f,
           "seed " + std::to_string(seed) + ": one arc fewer allowed: pruned to fit");
    CheckLattice(over, "seed " + std::to_string(seed) + " one arc over", nullptr);
  }
  Group("lattice within max_lattice_arcs", before);
}

void TestSettle() {
  const size_t before = g_counts.failed;
  std::mt19937 rng(17);
  const int32_t vocab = 7;
  // Strongly weighted phrases, so hypotheses sit in the middle of matches when the end-point comes.
  const std::vector<BiasPhrase> phrases = RandomPhrases(rng, vocab, 10, 3.f);
  auto graph = std::make_shared<ContextGraph>(phrases);
  const NaiveBias naive(phrases, graph->config().bonus_per_token);
  int pending_seen = 0;
  for (uint64_t seed = 60; seed < 70; ++seed) {
    auto scorer = RandomScorer(vocab, seed, 2.f, 0.f);
    BeamSearch search(scorer, Pieces(vocab), {}, graph);
    Decode(search, *scorer, 20);
    for (const NbestEntry& e : search.Result().nbest) pending_seen += std::abs(e.bias - naive.Settled(e.tokens)) > 1e-3;
    search.Settle();
    for (const NbestEntry& e : search.Result().nbest)
      Near(e.bias, naive.Settled(e.tokens), 1e-3, "after Settle() no pending bonus, seed " + std::to_string(seed));
    const std::vector<float> more = scorer->EncoderFrames(20, 20);
    search.AcceptFrames(more.data(), 20);
    search.Finalize();
    const SearchResult r = search.Result();
    for (const NbestEntry& e : r.nbest)
      Near(e.bias, SettledBias(naive, e, 20), 1e-3, "after Finalize() no pending bonus, seed " + std::to_string(seed));
    Expect(r.final, "Finalize() marks the result final");
    CheckLattice(r, "settled seed " + std::to_string(seed), &naive, 20);
  }
  Expect(pending_seen > 0, "some hypotheses held pending bonuses before settling (else the test proves nothing)");
  Group("settle removes every pending bonus", before);
}

void TestResetAndLifecycle() {
  const size_t before = g_counts.failed;
  auto scorer = RandomScorer(9, 77);
  BeamSearch search(scorer, Pieces(9));
  // Nothing decoded yet: the empty hypothesis, one node that is start and final.
  SearchResult empty = search.Result();
  Expect(empty.text.empty() && empty.nbest.size() == 1 && empty.lattice.num_nodes() == 1 &&
             empty.lattice.arcs.empty() && empty.lattice.CountPaths() == 1,
         "no frames: empty text, a one-node lattice");
  Decode(search, *scorer, 30);
  search.Finalize();
  const SearchResult first = search.Result();
  ExpectThrows<std::logic_error>(
      [&] {
        const std::vector<float> enc = scorer->EncoderFrames(30, 1);
        search.AcceptFrames(enc.data(), 1);
      },
      "Reset", "AcceptFrames after Finalize throws");
  search.Reset();
  Expect(search.NumFrames() == 0 && search.FrameSignals().empty() && !search.Finalized(), "Reset clears the stream");
  Decode(search, *scorer, 30);
  search.Finalize();
  Expect(SameResult(first, search.Result()), "after Reset the same frames give the same result");
  Expect(search.FrameSignals().size() == 30, "one frame signal per frame");

  // Frame signals on silence: blank everywhere.
  auto silent = RandomScorer(9, 78, 1.f, 50.f);
  BeamSearch quiet(silent, Pieces(9));
  Decode(quiet, *silent, 12);
  bool trailing_ok = true;
  for (size_t t = 0; t < quiet.FrameSignals().size(); ++t)
    trailing_ok = trailing_ok && quiet.FrameSignals()[t].trailing_blank_frames == int32_t(t + 1) &&
                  quiet.FrameSignals()[t].blank_logprob > -1e-3f;
  Expect(trailing_ok && quiet.Result().text.empty(), "silence: trailing blank frames count up, blank log-prob ~0");
  Group("reset, lifecycle, frame signals", before);
}

// Whether a grammar accepts a whole token sequence (from the start, ending in a final state).
bool Accepts(const Grammar& g, const std::vector<int32_t>& tokens) {
  int32_t s = Grammar::kStart;
  for (int32_t t : tokens)
    if ((s = g.Next(s, t)) == Grammar::kRejected) return false;
  return g.IsFinal(s);
}

void TestGrammarStates() {
  const size_t before = g_counts.failed;
  const Grammar once({{1}, {2, 4}, {2}, {5, 3}, {1}}, false);
  Expect(once.num_phrases() == 4, "grammar: a phrase given twice counts once");
  Expect(once.IsFinal(Grammar::kStart), "grammar: the empty transcript is allowed");
  const int32_t one = once.Next(Grammar::kStart, 1), two = once.Next(Grammar::kStart, 2);
  Expect(one != Grammar::kRejected && once.IsFinal(one), "grammar: [1] is a phrase");
  Expect(two != Grammar::kRejected && once.IsFinal(two), "grammar: [2] is a phrase and a prefix of [2 4]");
  const int32_t five = once.Next(Grammar::kStart, 5);
  Expect(five != Grammar::kRejected && !once.IsFinal(five), "grammar: [5] is only a prefix");
  Expect(once.Next(Grammar::kStart, 3) == Grammar::kRejected, "grammar: 3 starts no phrase");
  Expect(once.Next(one, 1) == Grammar::kRejected, "grammar without repeat: nothing after a whole phrase");
  Expect(once.CanContinue(two) && once.CanContinue(five) && !once.CanContinue(one) &&
             once.CanContinue(Grammar::kStart),
         "grammar without repeat: CanContinue where a longer phrase goes on");
  Expect(Accepts(once, {2, 4}) && Accepts(once, {5, 3}) && !Accepts(once, {5}) && !Accepts(once, {1, 1}) &&
             !Accepts(once, {2, 4, 1}) && Accepts(once, {}),
         "grammar without repeat: whole phrases only");
  std::vector<int32_t> next(7);
  once.NextAll(two, 7, next.data());
  Expect(next == std::vector<int32_t>({-1, -1, -1, -1, once.Next(two, 4), -1, -1}), "grammar: NextAll = Next");

  const Grammar loop({{1}, {2, 4}, {2}, {5, 3}}, true);
  const int32_t l1 = loop.Next(Grammar::kStart, 1), l2 = loop.Next(Grammar::kStart, 2);
  Expect(loop.Next(l1, 1) == l1 && loop.Next(l1, 5) == loop.Next(Grammar::kStart, 5),
         "grammar with repeat: a phrase may follow a whole phrase");
  Expect(loop.CanContinue(l1), "grammar with repeat: CanContinue after a whole phrase");
  Expect(loop.Next(l2, 4) != loop.Next(Grammar::kStart, 4) && loop.Next(Grammar::kStart, 4) == Grammar::kRejected,
         "grammar with repeat: continuing the phrase comes first");
  Expect(loop.Next(loop.Next(Grammar::kStart, 5), 1) == Grammar::kRejected,
         "grammar with repeat: not inside a phrase");
  Expect(Accepts(loop, {1, 2, 4, 5, 3, 2}) && !Accepts(loop, {1, 5}) && !Accepts(loop, {4}),
         "grammar with repeat: sequences of whole phrases");
  for (int32_t s = 0; s < loop.num_states(); ++s) {
    loop.NextAll(s, 7, next.data());
    bool same = true;
    for (int32_t t = 0; t < 7; ++t) same = same && next[size_t(t)] == loop.Next(s, t);
    Expect(same, "grammar with repeat: NextAll = Next in state " + std::to_string(s));
  }
  ExpectThrows([] { Grammar g({}, false); }, "phrases", "grammar: no phrases");
  ExpectThrows([] { Grammar g({{1}, {}}, false); }, "phrases[1]", "grammar: an empty phrase");
  ExpectThrows([] { Grammar g({{1, -3}}, false); }, "phrases[0]", "grammar: a negative token id");
  ExpectThrows([&] { once.Next(once.num_states(), 1); }, "state", "grammar: a state out of range");
  auto scorer = RandomScorer(9, 1);
  ExpectThrows([&] { BeamSearch s(scorer, Pieces(9), {}, nullptr, std::make_shared<Grammar>(
                         std::vector<std::vector<int32_t>>{{2, 9}}, false)); },
               "grammar", "grammar: a token outside the vocabulary");
  ExpectThrows([&] { BeamSearch s(scorer, Pieces(9), {}, nullptr, std::make_shared<Grammar>(
                         std::vector<std::vector<int32_t>>{{0}}, false)); },
               "grammar", "grammar: a phrase with the blank");
  Group("grammar: states", before);
}

// Every alignment of T frames (one symbol per frame at most, blank 0, a context as long as the frames): each token
// sequence's log-added score.
std::map<std::vector<int32_t>, double> AlignmentScores(const TableScorer& scorer, int32_t V, int32_t T) {
  std::map<std::vector<int32_t>, double> score;
  std::vector<int32_t> choice(size_t(T), 0);
  for (int64_t code = 0; code < int64_t(std::pow(V, T)); ++code) {
    int64_t c = code;
    for (int32_t t = 0; t < T; ++t, c /= V) choice[size_t(t)] = int32_t(c % V);
    std::vector<int32_t> context(size_t(T), 0), seq;
    double acoustic = 0;
    for (int32_t t = 0; t < T; ++t) {
      acoustic += double(scorer.LogProbs(t, context)[size_t(choice[size_t(t)])]);
      if (choice[size_t(t)] != 0) {
        seq.push_back(choice[size_t(t)]);
        context.erase(context.begin());
        context.push_back(choice[size_t(t)]);
      }
    }
    const auto it = score.find(seq);
    score[seq] = it == score.end() ? acoustic : std::max(acoustic, it->second) +
                                                    std::log1p(std::exp(-std::abs(acoustic - it->second)));
  }
  return score;
}

// Every alignment of a few frames (one symbol per frame at most): the log-added score of each token sequence. With a
// context as long as the frames, no two sequences share a search key, so a wide beam keeps every sequence's exact
// score and the grammar's best is the best accepted sequence.
void TestGrammarSearchBruteForce() {
  const size_t before = g_counts.failed;
  const int32_t V = 6, T = 3;
  const auto pieces = Pieces(V);
  const TokenTable table(pieces, 0);
  const std::vector<std::vector<std::vector<int32_t>>> grammars{{{1}, {2, 4}, {2}, {5, 3}}, {{4}}, {{1, 2, 4, 5}},
                                                                {{3, 3}, {5}}};
  int checked = 0, partial_unfinished = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    auto scorer = RandomScorer(V, seed, 3.f, 1.f, T);
    const std::map<std::vector<int32_t>, double> score = AlignmentScores(*scorer, V, T);
    for (size_t gi = 0; gi < grammars.size(); ++gi)
      for (int variant = 0; variant < 4; ++variant) {  // repeat or not, the empty transcript allowed or not
        const bool repeat = variant & 1, allow_empty = variant < 2;
        auto grammar = std::make_shared<Grammar>(grammars[gi], repeat, allow_empty);
        std::vector<int32_t> best;
        double best_score = -kInf;
        std::set<std::string> accepted_texts;
        for (const auto& [seq, sc] : score)
          if (Accepts(*grammar, seq)) {
            accepted_texts.insert(table.Text(seq));
            if (sc > best_score) best = seq, best_score = sc;
          }
        BeamSearchConfig config;
        config.beam = 256;
        config.lattice_beam = std::numeric_limits<float>::infinity();
        BeamSearch search(scorer, pieces, config, nullptr, grammar);
        Decode(search, *scorer, T);
        const SearchResult partial = search.Result();  // before the end: the best so far, a phrase maybe unfinished
        search.Finalize();
        const SearchResult r = search.Result();
        const std::string where = " (seed " + std::to_string(seed) + ", grammar " + std::to_string(gi) +
                                  (repeat ? ", repeat" : "") + (allow_empty ? ")" : ", a phrase required)");
        Expect(r.tokens == best, "grammar search: the best accepted sequence" + where);
        if (best_score == -kInf) {  // a required phrase that does not fit in the frames: no result at all
          Expect(!allow_empty && r.text.empty() && r.nbest.empty(), "grammar search: nothing accepted" + where);
          ++checked;
          continue;
        }
        int32_t state = Grammar::kStart;
        for (int32_t t : partial.tokens) state = state == Grammar::kRejected ? state : grammar->Next(state, t);
        Expect(state != Grammar::kRejected && partial.score >= r.score,
               "grammar search: the partial result is the best prefix of the grammar" + where);
        partial_unfinished += !grammar->IsFinal(state);
        Near(r.acoustic, best_score, 1e-9, "grammar search: its exact score" + where);
        bool nbest_ok = true;
        for (const auto& h : r.nbest) nbest_ok = nbest_ok && Accepts(*grammar, h.tokens);
        Expect(nbest_ok, "grammar search: every N-best hypothesis accepted" + where);
        std::map<std::string, std::vector<double>> paths;
        EnumeratePaths(r.lattice, r.lattice.start, "", 0.0, &paths);
        bool lattice_ok = !paths.empty();
        for (const auto& [text, _] : paths) lattice_ok = lattice_ok && accepted_texts.count(text) > 0;
        Expect(lattice_ok, "grammar search: every lattice path accepted" + where);
        ++checked;
      }
  }
  // Nothing the grammar allows fits in one frame but the empty transcript.
  auto scorer = RandomScorer(V, 5, 3.f, 1.f, T);
  BeamSearch search(scorer, pieces, {}, nullptr,
                    std::make_shared<Grammar>(std::vector<std::vector<int32_t>>{{1, 2}}, false));
  Decode(search, *scorer, 1);
  search.Finalize();
  Expect(search.Result().text.empty() && search.Result().tokens.empty(), "grammar search: empty when nothing fits");
  // Required, the empty transcript is no result: the one phrase that fits in two frames is, whatever it scores.
  BeamSearch required(scorer, pieces, {}, nullptr,
                      std::make_shared<Grammar>(std::vector<std::vector<int32_t>>{{1, 2}}, false, false));
  Decode(required, *scorer, 2);
  required.Finalize();
  Expect(required.Result().tokens == std::vector<int32_t>({1, 2}), "grammar search: a required phrase when one fits");
  const Grammar optional({{1}}, false), strict({{1}}, false, false);
  Expect(optional.IsFinal(Grammar::kStart) && !strict.IsFinal(Grammar::kStart) &&
             strict.IsFinal(strict.Next(Grammar::kStart, 1)) && optional.allow_empty() && !strict.allow_empty(),
         "grammar: the start is final only when the empty transcript is allowed");
  Expect(checked == 192, "grammar search: every case ran");
  Expect(partial_unfinished > 0, "grammar search: some partial results end inside a phrase (the check can fail)");
  Group("grammar: search against brute force", before);
}

// A hand-made n-gram LM over tokens 1..5 (blank 0; end of sentence 6): unigrams at the empty history (state 0), the
// histories <s> (1), "2" (2) and "2 4" (3), with known probabilities and backoffs.
NgramLmArrays SmallLmArrays() {
  auto ln = [](double p) { return float(std::log(p)); };
  NgramLmArrays a;
  a.vocab_size = 6;
  a.start_state = 1;
  a.backoff = {0.f, ln(0.5), ln(0.6), ln(0.7)};
  a.suffix = {-1, 0, 0, 0};
  a.arc_offsets = {0, 6, 8, 9, 10};
  a.arc_token = {1, 2, 3, 4, 5, 6, /*<s>*/ 2, 5, /*2*/ 4, /*2 4*/ 5};
  a.arc_logprob = {ln(0.1), ln(0.3), ln(0.2), ln(0.15), ln(0.1), ln(0.15), ln(0.4), ln(0.1), ln(0.3), ln(0.5)};
  a.arc_next = {0, 2, 0, 0, 0, 0, 2, 0, 3, 0};
  return a;
}

void TestNgramLm() {
  const size_t before = g_counts.failed;
  const NgramLm lm(SmallLmArrays(), 0);
  Expect(lm.order() == 2 && lm.num_states() == 4 && lm.start_state() == 1, "n-gram LM: shape");
  auto near = [](const NgramLm::Step& s, double p, int32_t state) {
    return std::abs(double(s.logprob) - std::log(p)) < 1e-6 && s.state == state;
  };
  Expect(near(lm.Score(1, 2), 0.4, 2), "n-gram LM: an explicit bigram after <s>");
  Expect(near(lm.Score(1, 3), 0.5 * 0.2, 0), "n-gram LM: backing off from <s> to the unigram");
  Expect(near(lm.Score(2, 4), 0.3, 3), "n-gram LM: into the history '2 4'");
  Expect(near(lm.Score(3, 5), 0.5, 0), "n-gram LM: an explicit trigram");
  Expect(near(lm.Score(3, 1), 0.7 * 0.1, 0), "n-gram LM: backing off from '2 4'");
  Expect(near(lm.Score(3, 2), 0.7 * 0.3, 2), "n-gram LM: backing off keeps the unigram's next state");
  Expect(near(lm.Score(2, 6), 0.6 * 0.15, 0), "n-gram LM: the end of sentence");
  std::vector<float> logprob(6);
  std::vector<int32_t> next(6);
  for (int32_t s = 0; s < lm.num_states(); ++s) {
    lm.ScoreAll(s, logprob.data(), next.data());
    bool same = logprob[0] == 0.f && next[0] == s;
    for (int32_t t = 1; t < 6; ++t)
      same = same && std::abs(logprob[size_t(t)] - lm.Score(s, t).logprob) < 1e-6 &&
             next[size_t(t)] == lm.Score(s, t).state;
    Expect(same, "n-gram LM: ScoreAll = Score in state " + std::to_string(s));
  }
  ExpectThrows([&] { lm.Score(1, 0); }, "token", "n-gram LM: the blank is no token of the LM");
  ExpectThrows([&] { lm.Score(4, 1); }, "state", "n-gram LM: a state out of range");
  auto broken = [](const std::function<void(NgramLmArrays&)>& change) {
    return [=] {
      NgramLmArrays a = SmallLmArrays();
      change(a);
      NgramLm lm(std::move(a), 0);
    };
  };
  ExpectThrows(broken([](NgramLmArrays& a) { a.suffix[2] = 2; }), "suffix[2]", "n-gram LM: a suffix loop");
  ExpectThrows(broken([](NgramLmArrays& a) { a.suffix[0] = 0; }), "suffix[0]", "n-gram LM: the root's suffix");
  ExpectThrows(broken([](NgramLmArrays& a) { std::swap(a.arc_token[1], a.arc_token[2]); }), "arc_token[2]",
               "n-gram LM: unsorted tokens");
  ExpectThrows(broken([](NgramLmArrays& a) { a.arc_token[6] = 0; }), "arc_token[6]", "n-gram LM: the blank as a token");
  ExpectThrows(broken([](NgramLmArrays& a) { a.arc_token[8] = 7; }), "arc_token[8]", "n-gram LM: a token out of range");
  ExpectThrows(broken([](NgramLmArrays& a) { a.arc_next[3] = 4; }), "arc_next[3]",
               "n-gram LM: a next state out of range");
  ExpectThrows(broken([](NgramLmArrays& a) { a.arc_logprob[4] = NAN; }), "arc_logprob[4]", "n-gram LM: NaN score");
  ExpectThrows(broken([](NgramLmArrays& a) { a.backoff[3] = INFINITY; }), "backoff[3]", "n-gram LM: infinite backoff");
  ExpectThrows(broken([](NgramLmArrays& a) { a.arc_offsets[2] = 5; }), "arc_offsets[2]", "n-gram LM: offsets decrease");
  ExpectThrows(broken([](NgramLmArrays& a) { a.arc_offsets.pop_back(); }), "arc_offsets", "n-gram LM: offsets short");
  ExpectThrows(broken([](NgramLmArrays& a) { a.arc_logprob.pop_back(); }), "arc_logprob", "n-gram LM: scores short");
  ExpectThrows(broken([](NgramLmArrays& a) { a.start_state = 4; }), "start_state", "n-gram LM: start out of range");
  ExpectThrows(broken([](NgramLmArrays& a) {  // token 3 loses its unigram
                 a.arc_token.erase(a.arc_token.begin() + 2);
                 a.arc_logprob.erase(a.arc_logprob.begin() + 2);
                 a.arc_next.erase(a.arc_next.begin() + 2);
                 for (size_t i = 1; i < a.arc_offsets.size(); ++i) --a.arc_offsets[i];
               }),
               "unigram for token 3", "n-gram LM: a token without a unigram");
  auto scorer = RandomScorer(9, 1);
  auto lm_ptr = std::make_shared<NgramLm>(SmallLmArrays(), 0);
  BeamSearchConfig fused;
  fused.lm_scale = 0.5f;
  ExpectThrows([&] { BeamSearch s(scorer, Pieces(9), fused, nullptr, nullptr, lm_ptr); }, "lm",
               "n-gram LM: another vocabulary than the model's");
  fused.lm_scale = -1.f;
  ExpectThrows([&] { BeamSearch s(scorer, Pieces(9), fused); }, "lm_scale", "n-gram LM: a negative scale");
  Group("n-gram LM: scores, states, validation", before);
}

// Shallow fusion against brute force: every alignment of a few frames, each sequence scored by its log-added
// alignments plus lm_scale times its LM log-probability (from <s>, no end of sentence). With a context as long as
// the frames, a wide beam keeps every sequence, so the search's best must be the brute-force best, with its score.
// ln P_lm(seq), with the end of sentence when `end`.
double LmScore(const NgramLm& lm, const std::vector<int32_t>& seq, bool end) {
  double score = 0;
  int32_t state = lm.start_state();
  for (int32_t t : seq) {
    const NgramLm::Step step = lm.Score(state, t);
    score += double(step.logprob);
    state = step.state;
  }
  return end ? score + double(lm.Score(state, lm.vocab_size()).logprob) : score;
}

// A beam wide enough to keep every hypothesis of the brute-force cases, with the LM at `lm_scale`.
BeamSearchConfig ExhaustiveWithLm(float lm_scale) {
  BeamSearchConfig config;
  config.beam = 256;
  config.lattice_beam = std::numeric_limits<float>::infinity();
  config.lm_scale = lm_scale;
  return config;
}

void TestLmFusionBruteForce() {
  const size_t before = g_counts.failed;
  const int32_t V = 6, T = 3;
  const auto pieces = Pieces(V);
  auto lm = std::make_shared<NgramLm>(SmallLmArrays(), 0);
  int changed = 0, end_changed = 0, checked = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    auto scorer = RandomScorer(V, seed, 3.f, 1.f, T);
    const std::map<std::vector<int32_t>, double> acoustic = AlignmentScores(*scorer, V, T);
    for (float scale : {0.f, 0.5f, 2.f}) {
      std::vector<int32_t> plain_best, without_end;
      double plain_score = -kInf;
      for (bool end : {false, true}) {
        // The brute force: every token sequence's alignments log-added, plus scale * its LM score (with </s>).
        std::vector<int32_t> best;
        double best_score = -kInf;
        for (const auto& [seq, a] : acoustic) {
          const double total = a + double(scale) * LmScore(*lm, seq, end);
          if (total > best_score) best = seq, best_score = total;
          if (a > plain_score) plain_best = seq, plain_score = a;
        }
        BeamSearchConfig config = ExhaustiveWithLm(scale);
        config.lm_end_of_sentence = end;
        BeamSearch search(scorer, pieces, config, nullptr, nullptr, lm);
        Decode(search, *scorer, T, {}, int32_t(seed % 2) + 1);  // an end-point mid-way changes nothing in the end
        const std::string where = " (seed " + std::to_string(seed) + ", scale " + std::to_string(scale) +
                                  (end ? ", with </s>)" : ")");
        if (end) {  // before: the partial result leaves </s> out; once settled it is what finalizing gives
          Expect(search.Result().tokens == without_end, "LM fusion: the partial result without </s>" + where);
          search.Settle();
          search.Settle();  // a second call changes nothing
          const SearchResult settled = search.Result();
          Expect(settled.tokens == best, "LM fusion: settled, the best sequence with </s>" + where);
          Near(settled.acoustic, best_score, 1e-4, "LM fusion: settled, its score" + where);
        }
        search.Finalize();
        search.Finalize();  // a second call changes nothing (the end of sentence is scored once)
        const SearchResult r = search.Result();
        Expect(r.tokens == best, "LM fusion: the best sequence of acoustic + scale * LM" + where);
        Near(r.acoustic, best_score, 1e-4, "LM fusion: its score" + where);
        Expect(!r.nbest.empty() && r.nbest[0].tokens == best, "LM fusion: the N-best list starts with it" + where);
        changed += best != plain_best;
        if (end) end_changed += best != without_end;
        else without_end = best;
        ++checked;
      }
    }
  }
  Expect(checked == 72, "LM fusion: every case ran");
  Expect(changed > 0, "LM fusion: the LM changes some transcripts (the check can fail)");
  Expect(end_changed > 0, "LM fusion: the end of sentence changes some transcripts (the check can fail)");
  Group("n-gram LM: fusion against brute force", before);
}

// The internal LM's prior taken out: the brute force scores every sequence by its alignments, + scale * LM (with
// </s>) - ilm_scale * ln P_ilm, where P_ilm(token | context) is the joint at a zero encoder frame (TableScorer: frame
// 0) renormalized over the tokens.
void TestInternalLmBruteForce() {
  const size_t before = g_counts.failed;
  const int32_t V = 6, T = 3, C = T;  // the scorer's context holds the whole utterance
  const auto pieces = Pieces(V);
  auto lm = std::make_shared<NgramLm>(SmallLmArrays(), 0);
  int changed = 0, checked = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    auto scorer = RandomScorer(V, seed, 3.f, 1.f, T);
    const std::map<std::vector<int32_t>, double> acoustic = AlignmentScores(*scorer, V, T);
    auto ilm_of = [&](const std::vector<int32_t>& seq) {
      std::vector<int32_t> context(C, 0);  // blank (0) before the first token
      double sum = 0;
      for (int32_t t : seq) {
        const std::vector<float> lp = scorer->LogProbs(0, context);
        sum += double(lp[size_t(t)]) - std::log1p(-std::exp(double(lp[0])));
        context.erase(context.begin());
        context.push_back(t);
      }
      return sum;
    };
    const float scale = 0.5f;
    std::vector<int32_t> without_ilm;
    for (float ilm_scale : {0.f, 0.5f, 1.5f}) {
      std::vector<int32_t> best;
      double best_score = -kInf;
      for (const auto& [seq, a] : acoustic) {
        const double total = a + double(scale) * LmScore(*lm, seq, true) - double(ilm_scale) * ilm_of(seq);
        if (total > best_score) best = seq, best_score = total;
      }
      BeamSearchConfig config = ExhaustiveWithLm(scale);
      config.ilm_scale = ilm_scale;
      BeamSearch search(scorer, pieces, config, nullptr, nullptr, lm);
      Decode(search, *scorer, T);
      search.Finalize();
      const SearchResult r = search.Result();
      const std::string where = " (seed " + std::to_string(seed) + ", ilm_scale " + std::to_string(ilm_scale) + ")";
      Expect(r.tokens == best, "internal LM: the best sequence" + where);
      Near(r.acoustic, best_score, 1e-4, "internal LM: its score" + where);
      if (ilm_scale == 0.f) without_ilm = best;
      else changed += best != without_ilm;
      ++checked;
    }
  }
  Expect(checked == 36, "internal LM: every case ran");
  Expect(changed > 0, "internal LM: taking it out changes some transcripts (the check can fail)");
  Group("internal LM subtracted: against brute force", before);
}

// A context whose internal LM is sure of the blank (P rounds to 1 in float): its tokens still get finite priors,
// so a token the audio asks for is emitted from it.
void TestInternalLmWhenTheBlankIsCertain() {
  const size_t before = g_counts.failed;
  const int32_t V = 6, T = 3;
  const auto pieces = Pieces(V);
  auto lm = std::make_shared<NgramLm>(SmallLmArrays(), 0);
  auto scorer = RandomScorer(V, 7);
  std::vector<float> sure_blank(V, 0.f), token1(V, 0.f);
  sure_blank[0] = 60.f;  // frame 0 is also the internal LM's (a zero encoder frame)
  token1[1] = 10.f;
  scorer->Set(0, {0, 0}, sure_blank);
  scorer->Set(1, {0, 0}, token1);
  Expect(scorer->LogProbs(0, {0, 0})[0] == 0.f, "internal LM, certain blank: P(blank) is 1 in float (the setup)");
  for (float ilm_scale : {0.f, 0.5f}) {
    BeamSearchConfig config = ExhaustiveWithLm(0.5f);
    config.ilm_scale = ilm_scale;
    BeamSearch search(scorer, pieces, config, nullptr, nullptr, lm);
    Decode(search, *scorer, T);
    search.Finalize();
    const SearchResult r = search.Result();
    const std::string where = " (ilm_scale " + std::to_string(ilm_scale) + ")";
    Expect(!r.tokens.empty() && r.tokens[0] == 1, "internal LM, certain blank: token 1 emitted" + where);
    Expect(std::isfinite(r.acoustic), "internal LM, certain blank: a finite score" + where);
  }
  Group("internal LM: a context sure of the blank", before);
}

void TestValidation() {
  const size_t before = g_counts.failed;
  auto scorer = RandomScorer(9, 1);
  const auto pieces = Pieces(9);
  auto beam_with = [&](const std::function<void(BeamSearchConfig&)>& change) {
    return [=] {
      BeamSearchConfig c;
      change(c);
      BeamSearch s(scorer, pieces, c);
    };
  };
  ExpectThrows(beam_with([](BeamSearchConfig& c) { c.beam = 0; }), "beam", "beam 0");
  ExpectThrows(beam_with([](BeamSearchConfig& c) { c.blank_penalty = NAN; }), "blank_penalty", "blank_penalty NaN");
  ExpectThrows(beam_with([](BeamSearchConfig& c) { c.token_reward = INFINITY; }), "token_reward", "token_reward inf");
  ExpectThrows(beam_with([](BeamSearchConfig& c) { c.ilm_scale = -1; }), "ilm_scale", "ilm_scale < 0");
  ExpectThrows(beam_with([](BeamSearchConfig& c) { c.lattice_beam = -1; }), "lattice_beam", "lattice_beam < 0");
  ExpectThrows(beam_with([](BeamSearchConfig& c) { c.lattice_beam = NAN; }), "lattice_beam", "lattice_beam NaN");
  ExpectThrows(beam_with([](BeamSearchConfig& c) { c.decoder_cache_size = 2; }), "decoder_cache_size",
               "decoder_cache_size < beam");
  ExpectThrows(beam_with([](BeamSearchConfig& c) { c.max_lattice_arcs = 0; }), "max_lattice_arcs",
               "max_lattice_arcs 0");
  ExpectThrows([&] { GreedySearch s(scorer, pieces, GreedySearchConfig{INFINITY}); }, "blank_penalty",
               "greedy blank_penalty inf");
  ExpectThrows([] { ContextGraphConfig{-1.f}.Validate(); }, "bonus_per_token", "bonus_per_token < 0");
  ExpectThrows([] { ContextGraph g({}, ContextGraphConfig{NAN}); }, "bonus_per_token", "bonus_per_token NaN");
  ExpectThrows([] { ContextGraph g({{{}, 1.f}}); }, "phrases[0].tokens", "empty phrase");
  ExpectThrows([] { ContextGraph g({{{1}, 1.f}, {{2}, -1.f}}); }, "phrases[1].weight", "negative weight");
  ExpectThrows([] { ContextGraph g({{{1, -2}, 1.f}}); }, "phrases[0].tokens", "negative token id");
  ExpectThrows([] { ContextGraph g({{{1}, 1.f}}, {}, {3, -1}); }, "word_continuations", "negative continuation id");
  ExpectThrows([&] { BeamSearch s(nullptr, pieces); }, "scorer", "null scorer");
  ExpectThrows([&] { BeamSearch s(scorer, Pieces(8)); }, "pieces", "token table of the wrong size");
  ExpectThrows([&] { GreedySearch s(scorer, Pieces(10)); }, "pieces", "greedy: token table of the wrong size");
  auto graph_of = [](std::vector<int32_t> tokens) {
    return std::make_shared<ContextGraph>(std::vector<BiasPhrase>{{std::move(tokens), 1.f}});
  };
  ExpectThrows([&] { BeamSearch s(scorer, pieces, {}, graph_of({9})); }, "context_graph",
               "phrase token outside the vocabulary");
  ExpectThrows([&] { GreedySearch s(scorer, pieces, {}, graph_of({3, 0})); }, "context_graph",
               "phrase with the blank");
  ExpectThrows([] { TokenTable t({}, 0); }, "pieces", "empty token table");
  ExpectThrows([] { TokenTable t({"<blk>", ""}, 0); }, "pieces[1]", "empty piece");
  ExpectThrows([&] {
    BeamSearch s(scorer, pieces);
    s.AcceptFrames(nullptr, 1);
  }, "enc", "null frames");
  Expect(BeamSearchConfig{}.ToString().find("beam=4") != std::string::npos &&
             BeamSearchConfig{}.ToString().find("max_lattice_arcs=20000") != std::string::npos,
         "BeamSearchConfig::ToString");
  Group("validation", before);
}

void TestTokenTable() {
  const size_t before = g_counts.failed;
  const TokenTable t({"<blk>", kWs + "he", "llo", kWs + "world", kWs, "!"}, 0);
  Expect(t.Text({1, 2, 0, 3}) == "hello world", "Text joins pieces and drops blanks");
  Expect(t.Text({2, 1}) == "llo he", "Text without a leading word start");
  Expect(t.Text({4, 5}) == "!", "a lone word start adds no space at the ends");
  Expect(t.StartsWord(1) && !t.StartsWord(2) && t.StartsWord(4), "StartsWord");
  Group("token table", before);
}

}  // namespace
}  // namespace edgeasr

int main(int argc, char** argv) {
  bool quick = false;  // every check here is quick
  if (!edgeasr::ParseTestArgs(argc, argv, &quick)) return 2;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // failures stay in order with anything a crash leaves
  using namespace edgeasr;
  try {
    TestTokenTable();
    TestContextGraphExact();
    TestContextGraphBruteForce();
    TestContextGraphLarge();
    TestGrammarStates();
    TestGrammarSearchBruteForce();
    TestNgramLm();
    TestLmFusionBruteForce();
    TestInternalLmBruteForce();
    TestInternalLmWhenTheBlankIsCertain();
    TestGreedyExact();
    TestBeamExactRecombination();
    TestBlankPenaltyIsShiftedLogit();
    TestTokenRewardIsRaisedTokenLogProbs();
    TestBeamOneEqualsGreedy();
    TestWeightZeroIsNoBiasing();
    TestStreaming();
    TestLatticeProperties();
    TestLatticeBudget();
    TestSettle();
    TestResetAndLifecycle();
    TestValidation();
  } catch (const std::exception& e) {
    g_counts.Check(false, std::string("unexpected exception: ") + e.what());
  }
  return g_counts.Report();
}
