// From the token lattice a search recorded to a SearchResult: N-best list, best path with word times, and the word
// lattice.
//
// Word lattice. A path's words split it just before each word-starting token, so each path is one sequence of word
// arcs: a word arc runs from the node before its first token through its continuation tokens and the blanks after
// them, up to a node where a word-starting token leaves or the path ends. Blanks before the first word belong to the
// first word; a path without tokens is one arc with the empty word. These word arcs are found in one forward pass
// that carries, per token node, the open (unfinished) words reaching it; open words alike in start node, tokens and
// frames are merged keeping the best, and so are identical word arcs, which keeps every kept path's score exact and
// loses only equal-labelled duplicates. Pruning (Viterbi forward-backward): a token arc, an open word or a word arc
// stays when the best path through it is within lattice_beam of the best, or at least as good as the worst N-best
// hypothesis.
//
// Bounded work. The token lattice holds at most about 2 * beam^2 arcs per frame (per key, one per distinct sequence
// among the candidates), and what is done on it is linear. The word pass is not: where word starts are rare and many
// paths are close to the best, the open words at a node are distinct token strings, exponentially many in the length
// of a word, and so are the word arcs. So the pass runs under a budget: at most max_arcs word arcs, and at most
// kWorkPerArc * max_arcs (+ the kept token arcs) steps, a step being an open word carried along a token arc or a token
// spelled out in a word arc. Over it, the pass tightens where it is: the beam is halved (starting from the smaller of
// lattice_beam and the score spread of the lattice, so an infinite beam works too); the word arcs and open words below
// it are dropped, which leaves the pass exactly where a pass run with that beam from the start would be (a word's best
// completion only falls as it grows); the trie of their tokens is rebuilt with what is left; and the pass goes on with
// a fresh step budget and room for max_arcs less the N-best paths' arcs. As the tightened beam no longer keeps the
// N-best paths, they are split into words on their own at the first tightening (each node's best incoming arc is its
// hypothesis's, so these arcs form a tree whose start-to-final paths are exactly the N-best) and joined to the result.
// Below kMinBeam, or once the passes have taken kTotalWork times the first one's step budget, only the N-best paths are
// left, kept even if they alone exceed max_arcs (about one arc per word of each hypothesis). So Result() takes
// O(token lattice * tightenings + kTotalWork * kWorkPerArc * max_arcs) time and O(token lattice + kWorkPerArc *
// max_arcs) memory; the best path is the 1-best, every N-best path is in the lattice with its score, and the posteriors
// are those of the lattice returned. WordLattice::beam tells which beam it was pruned with.
#include <algorithm>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "token_lattice.h"

namespace edgeasr::search {
namespace {

// Word-pass steps per word arc of the budget. A word arc takes 2 to 8 in lattices of word pieces, up to about 20 where
// words are many tokens long; where they take more, the budget prunes the lattice below max_arcs.
constexpr size_t kWorkPerArc = 16;
// What all the passes of one lattice may take together, in first-pass step budgets.
constexpr size_t kTotalWork = 4;
// The smallest tightened beam tried before only the N-best paths are kept.
constexpr double kMinBeam = 1.0 / 16;
constexpr double kLowest = std::numeric_limits<double>::lowest();  // a threshold that paths of score -inf fail
constexpr size_t kUnlimited = std::numeric_limits<size_t>::max();

struct OpenWord {
  int32_t from;  // word-lattice node it starts from
  int32_t seq;   // its tokens so far, in the pass's SequenceTrie; kEmpty: only blanks since the start of the utterance
  int32_t start_frame, end_frame;
  double acoustic, bias;

  double total() const { return acoustic + bias; }
  auto key() const { return std::tie(from, start_frame, end_frame, seq); }
};

struct RawArc {
  int32_t from, to;
  std::string word;
  int32_t start_frame, end_frame;
  double acoustic, bias;

  auto key() const { return std::tie(from, to, word, start_frame, end_frame); }
};

// Keeps the best of alike entries; `v` is left sorted by key.
template <typename T>
void MergeAlike(std::vector<T>& v) {
  std::sort(v.begin(), v.end(), [](const T& a, const T& b) {
    if (a.key() != b.key()) return a.key() < b.key();
    return a.acoustic + a.bias > b.acoustic + b.bias;
  });
  v.erase(std::unique(v.begin(), v.end(), [](const T& a, const T& b) { return a.key() == b.key(); }), v.end());
}

double Weight(const TokenArc& a) { return a.acoustic + a.bias; }

// Viterbi scores from the start (alpha) and to a final (beta); arcs are in topological order.
struct Viterbi {
  std::vector<double> alpha, beta;
  std::vector<uint8_t> is_final;
  double best = kNegInf;                                   // of the finals
  double worst = std::numeric_limits<double>::infinity();  // of the finals
};

Viterbi ViterbiScores(const TokenLattice& lat, const std::vector<FinalHyp>& finals) {
  const size_t n = size_t(lat.num_nodes());
  const std::vector<TokenArc>& arcs = lat.arcs();
  Viterbi v{std::vector<double>(n, kNegInf), std::vector<double>(n, kNegInf), std::vector<uint8_t>(n, 0)};
  v.alpha[0] = 0;
  for (const TokenArc& a : arcs)
    v.alpha[size_t(a.to)] = std::max(v.alpha[size_t(a.to)], v.alpha[size_t(a.from)] + Weight(a));
  for (const FinalHyp& f : finals) {
    v.beta[size_t(f.node)] = 0;
    v.is_final[size_t(f.node)] = 1;
  }
  for (auto it = arcs.rbegin(); it != arcs.rend(); ++it)
    v.beta[size_t(it->from)] = std::max(v.beta[size_t(it->from)], Weight(*it) + v.beta[size_t(it->to)]);
  for (const FinalHyp& f : finals) {
    v.best = std::max(v.best, v.alpha[size_t(f.node)]);
    v.worst = std::min(v.worst, v.alpha[size_t(f.node)]);
  }
  return v;
}

// What a word pass finds, before pruning to the nodes on start-to-final paths. Word nodes are numbered in the order of
// their token nodes.
struct Split {
  std::vector<int32_t> token_node;  // word node -> token node
  std::vector<RawArc> raw;
};

// What a pass may spend. Over it, tighten() raises the threshold (to +infinity at last, which ends all work) and sets
// new limits; the pass drops what falls below the new threshold and goes on.
struct Budget {
  double threshold;  // token arcs, open words and word arcs whose best path scores below it are dropped
  size_t max_arcs;   // word arcs held
  size_t max_work;   // steps since the threshold was set
  size_t work = 0;
  std::function<void(Budget&)> tighten;  // empty: no limits
};

// The word pass over the token arcs marked in `keep` (and, given `through`, the best path through each, those that
// reach the threshold).
void SplitPaths(const TokenLattice& lat, const std::vector<uint8_t>& keep, const std::vector<double>* through,
                const Viterbi& vit, const TokenTable& tokens, Budget& budget, Split* split) {
  const int32_t n = lat.num_nodes();
  const std::vector<TokenArc>& arcs = lat.arcs();

  // Kept arcs leaving each node, in creation order.
  std::vector<int32_t> first_out(size_t(n) + 1, 0), out;
  for (size_t k = 0; k < arcs.size(); ++k)
    if (keep[k]) ++first_out[size_t(arcs[k].from) + 1];
  for (int32_t v = 0; v < n; ++v) first_out[size_t(v) + 1] += first_out[size_t(v)];
  out.resize(size_t(first_out[size_t(n)]));
  {
    std::vector<int32_t> fill(first_out.begin(), first_out.end() - 1);
    for (size_t k = 0; k < arcs.size(); ++k)
      if (keep[k]) out[size_t(fill[size_t(arcs[k].from)]++)] = static_cast<int32_t>(k);
  }
  auto is_token = [&](int32_t label) { return label >= 0 && label != tokens.blank_id(); };
  auto arc_kept = [&](int32_t k) { return !through || (*through)[size_t(k)] >= budget.threshold; };

  SequenceTrie trie;  // the open words' tokens
  std::vector<int32_t>& token_node = split->token_node;
  std::vector<RawArc>& raw = split->raw;
  token_node.clear();
  raw.clear();
  std::vector<int32_t> word_node(size_t(n), -1);  // token node -> word node
  auto word_node_at = [&](int32_t v) {
    if (word_node[size_t(v)] < 0) {
      word_node[size_t(v)] = static_cast<int32_t>(token_node.size());
      token_node.push_back(v);
    }
    return word_node[size_t(v)];
  };
  // Best score of a path from the start to word node w.
  auto prefix = [&](int32_t w) { return vit.alpha[size_t(token_node[size_t(w)])]; };
  std::vector<std::vector<OpenWord>> open(static_cast<size_t>(n));
  open[0].push_back({word_node_at(0), SequenceTrie::kEmpty, -1, -1, 0.0, 0.0});
  std::vector<OpenWord> here;  // the open words at node v
  int32_t v = 0;
  // Over budget: tighten until what is held fits, drop what the new threshold drops (the open words waiting at later
  // nodes too) and rebuild the trie with just the sequences still held, so memory stays within one step budget; the
  // steps count from 0 again. True if it tightened.
  auto enforce = [&] {
    if (!budget.tighten || (raw.size() <= budget.max_arcs && budget.work <= budget.max_work)) return false;
    while (raw.size() > budget.max_arcs || budget.work > budget.max_work) {
      budget.tighten(budget);
      budget.work = 0;
      raw.erase(std::remove_if(raw.begin(), raw.end(),
                               [&](const RawArc& a) {
                                 return !(prefix(a.from) + a.acoustic + a.bias +
                                              vit.beta[size_t(token_node[size_t(a.to)])] >=
                                          budget.threshold);
                               }),
                raw.end());
    }
    SequenceTrie kept;
    std::vector<int32_t> moved(size_t(trie.size()), -1);  // old id -> new id
    moved[SequenceTrie::kEmpty] = SequenceTrie::kEmpty;
    std::vector<int32_t> chain;
    auto move = [&](int32_t seq) {
      for (int32_t s = seq; moved[size_t(s)] < 0; s = trie.parent(s)) chain.push_back(s);
      for (; !chain.empty(); chain.pop_back())
        moved[size_t(chain.back())] = kept.Insert(moved[size_t(trie.parent(chain.back()))], trie.token(chain.back()));
      return moved[size_t(seq)];
    };
    for (OpenWord& w : here) w.seq = move(w.seq);  // hopeless ones too: a loop may be going through `here`
    for (int32_t u = v + 1; u < n; ++u) {
      std::vector<OpenWord>& words = open[size_t(u)];
      words.erase(std::remove_if(words.begin(), words.end(),
                                 [&](const OpenWord& w) {
                                   return !(prefix(w.from) + w.total() + vit.beta[size_t(u)] >= budget.threshold);
                                 }),
                  words.end());
      for (OpenWord& w : words) w.seq = move(w.seq);
    }
    trie = std::move(kept);
    return true;
  };

  for (; v < n; ++v) {
    here = std::move(open[size_t(v)]);
    open[size_t(v)] = {};
    auto hopeless = [&](const OpenWord& w) {
      return !(prefix(w.from) + w.total() + vit.beta[size_t(v)] >= budget.threshold);
    };
    auto drop_hopeless = [&] { here.erase(std::remove_if(here.begin(), here.end(), hopeless), here.end()); };
    auto has_word = [&] {
      return std::any_of(here.begin(), here.end(), [](const OpenWord& w) { return w.seq != SequenceTrie::kEmpty; });
    };
    drop_hopeless();
    if (here.empty()) continue;
    MergeAlike(here);

    bool word_starts = false;
    for (int32_t k = first_out[size_t(v)]; k < first_out[size_t(v) + 1]; ++k) {
      const int32_t label = arcs[size_t(out[size_t(k)])].label;
      word_starts |= is_token(label) && tokens.StartsWord(label) && arc_kept(out[size_t(k)]);
    }
    bool any_word = has_word();
    const bool is_final = vit.is_final[size_t(v)] && v != 0;
    int32_t wn = -1;
    if ((word_starts && any_word) || is_final) {
      wn = word_node_at(v);
      bool tightened = false;
      for (const OpenWord& w : here) {
        if (tightened && hopeless(w)) continue;
        if (w.seq != SequenceTrie::kEmpty) {
          const std::vector<int32_t> word = trie.Tokens(w.seq);
          budget.work += 1 + word.size();
          raw.push_back({w.from, wn, tokens.Text(word), w.start_frame, w.end_frame, w.acoustic, w.bias});
        } else if (is_final) {
          budget.work += 1;
          raw.push_back({w.from, wn, "", lat.node_frame(token_node[size_t(w.from)]), lat.node_frame(v), w.acoustic,
                         w.bias});
        }
        tightened |= enforce();
      }
      if (tightened) {
        drop_hopeless();
        any_word = has_word();
      }
    }

    for (int32_t k = first_out[size_t(v)]; k < first_out[size_t(v) + 1] && !here.empty(); ++k) {
      if (!arc_kept(out[size_t(k)])) continue;
      budget.work += here.size() + 1;
      if (enforce()) {
        drop_hopeless();
        any_word = has_word();
        if (!arc_kept(out[size_t(k)]) || here.empty()) continue;
        budget.work += here.size() + 1;
      }
      const TokenArc& a = arcs[size_t(out[size_t(k)])];
      std::vector<OpenWord>& next = open[size_t(a.to)];
      const bool token = is_token(a.label);
      const bool starts = token && tokens.StartsWord(a.label);
      for (const OpenWord& w : here) {
        if (starts && w.seq != SequenceTrie::kEmpty) continue;  // that word ended at v; the new one starts below
        OpenWord x = w;
        x.acoustic += a.acoustic;
        x.bias += a.bias;
        if (token) {
          if (x.seq == SequenceTrie::kEmpty) x.start_frame = a.frame;
          x.seq = trie.Insert(x.seq, a.label);
          x.end_frame = a.frame;
        }
        next.push_back(x);
      }
      // (wn is set: this arc was kept when word_starts was found, and words were there then.)
      if (starts && any_word)
        next.push_back({wn, trie.Insert(SequenceTrie::kEmpty, a.label), a.frame, a.frame, a.acoustic, a.bias});
    }
  }
}

// Both passes' word arcs over the union of their word nodes: each pass's paths, and paths that go from one's word
// arcs on to the other's at a shared word node (token-lattice paths, split at their word starts all the same).
Split Union(const Split& a, const Split& b) {
  Split u;
  std::set_union(a.token_node.begin(), a.token_node.end(), b.token_node.begin(), b.token_node.end(),
                 std::back_inserter(u.token_node));
  u.raw.reserve(a.raw.size() + b.raw.size());
  for (const Split* s : {&a, &b}) {
    std::vector<int32_t> renumber(s->token_node.size());
    for (size_t w = 0; w < renumber.size(); ++w)
      renumber[w] = static_cast<int32_t>(
          std::lower_bound(u.token_node.begin(), u.token_node.end(), s->token_node[w]) - u.token_node.begin());
    for (RawArc arc : s->raw) {
      arc.from = renumber[size_t(arc.from)];
      arc.to = renumber[size_t(arc.to)];
      u.raw.push_back(std::move(arc));
    }
  }
  return u;
}

// The word lattice of a pass: identical word arcs keep the best (leaving arcs sorted by from, to); then only nodes on
// a start-to-final path stay, renumbered in order. Posteriors are set.
WordLattice Assemble(Split& split, const TokenLattice& lat, const std::vector<FinalHyp>& finals, float beam,
                     std::vector<int32_t>* word_node_of) {
  std::vector<RawArc>& raw = split.raw;
  MergeAlike(raw);
  const int32_t m = static_cast<int32_t>(split.token_node.size());
  std::vector<int32_t> word_node(size_t(lat.num_nodes()), -1);
  for (int32_t u = 0; u < m; ++u) word_node[size_t(split.token_node[size_t(u)])] = u;
  std::vector<uint8_t> reach(size_t(m), 0), coreach(size_t(m), 0);
  reach[0] = 1;
  for (const RawArc& a : raw)
    if (reach[size_t(a.from)]) reach[size_t(a.to)] = 1;
  for (const FinalHyp& f : finals)
    if (word_node[size_t(f.node)] >= 0) coreach[size_t(word_node[size_t(f.node)])] = 1;
  for (auto it = raw.rbegin(); it != raw.rend(); ++it)
    if (coreach[size_t(it->to)]) coreach[size_t(it->from)] = 1;
  std::vector<int32_t> renumber(size_t(m), -1);
  WordLattice wl;
  for (int32_t u = 0; u < m; ++u)
    if (reach[size_t(u)] && coreach[size_t(u)]) {
      renumber[size_t(u)] = wl.num_nodes();
      wl.node_frames.push_back(lat.node_frame(split.token_node[size_t(u)]));
    }
  wl.start = 0;
  wl.beam = beam;
  for (RawArc& a : raw) {
    const int32_t from = renumber[size_t(a.from)], to = renumber[size_t(a.to)];
    if (from < 0 || to < 0) continue;
    wl.arcs.push_back({from, to, std::move(a.word), a.start_frame, a.end_frame, static_cast<float>(a.acoustic),
                       static_cast<float>(a.bias), 0.f});
  }
  word_node_of->assign(word_node.size(), -1);
  for (size_t v = 0; v < word_node.size(); ++v)
    if (word_node[v] >= 0) (*word_node_of)[v] = renumber[size_t(word_node[v])];
  for (const FinalHyp& f : finals) {
    const int32_t w = (*word_node_of)[size_t(f.node)];
    if (w >= 0 && std::find(wl.finals.begin(), wl.finals.end(), w) == wl.finals.end()) wl.finals.push_back(w);
  }
  std::sort(wl.finals.begin(), wl.finals.end());
  wl.ComputePosteriors();
  return wl;
}

WordLattice BuildWordLattice(const TokenLattice& lat, const std::vector<FinalHyp>& finals, const TokenTable& tokens,
                             double lattice_beam, size_t max_arcs, std::vector<int32_t>* word_node_of) {
  const std::vector<TokenArc>& arcs = lat.arcs();
  const Viterbi vit = ViterbiScores(lat, finals);
  // Best path score through each arc; -inf for arcs that reach no final.
  std::vector<double> through(arcs.size());
  double lowest = vit.best;
  for (size_t k = 0; k < arcs.size(); ++k) {
    const TokenArc& a = arcs[k];
    through[k] = vit.alpha[size_t(a.from)] + Weight(a) + vit.beta[size_t(a.to)];
    if (std::isfinite(through[k])) lowest = std::min(lowest, through[k]);
  }
  const double spread = vit.best - lowest;                  // a beam this wide keeps every arc on a path to a final
  const double slack = 1e-6 * (1.0 + std::abs(vit.best));  // covers rounding, so no path is lost to it
  auto steps_for = [&](size_t arcs_allowed, double threshold) {
    const size_t kept = size_t(std::count_if(through.begin(), through.end(), [&](double t) { return t >= threshold; }));
    return arcs_allowed > (kUnlimited - kept) / kWorkPerArc ? kUnlimited : kWorkPerArc * arcs_allowed + kept;
  };

  // First as configured: paths within lattice_beam of the best or at least as good as the worst N-best.
  Budget budget;
  budget.threshold = std::max(std::min(vit.best - lattice_beam, vit.worst) - slack, kLowest);
  budget.max_arcs = max_arcs;
  budget.max_work = steps_for(max_arcs, budget.threshold);
  const size_t total_steps = budget.max_work > kUnlimited / kTotalWork ? kUnlimited : kTotalWork * budget.max_work;
  size_t spent = 0;
  double beam = lattice_beam;
  bool tightened = false;
  Split nbest;  // the N-best paths' word arcs, once tightened
  budget.tighten = [&](Budget& b) {
    spent += b.work;
    if (!tightened) {
      tightened = true;
      std::vector<uint8_t> tree(arcs.size(), 0);
      for (const FinalHyp& f : finals)
        for (int32_t v = f.node; lat.best_in(v) >= 0 && !tree[size_t(lat.best_in(v))];
             v = arcs[size_t(lat.best_in(v))].from)
          tree[size_t(lat.best_in(v))] = 1;
      Budget unlimited{kLowest, kUnlimited, kUnlimited, 0, nullptr};
      SplitPaths(lat, tree, nullptr, vit, tokens, unlimited, &nbest);
      beam = std::min(beam, spread);
    }
    beam /= 2;
    if (!(beam >= kMinBeam) || nbest.raw.size() >= max_arcs || spent >= total_steps) {
      beam = 0;  // only the N-best paths
      b.threshold = std::numeric_limits<double>::infinity();
      b.max_arcs = b.max_work = kUnlimited;
      return;
    }
    b.threshold = std::max(vit.best - beam - slack, kLowest);
    b.max_arcs = max_arcs - nbest.raw.size();
    b.max_work = std::min(steps_for(b.max_arcs, b.threshold), total_steps - spent);
  };
  Split split;
  SplitPaths(lat, std::vector<uint8_t>(arcs.size(), 1), &through, vit, tokens, budget, &split);
  if (!tightened) return Assemble(split, lat, finals, static_cast<float>(lattice_beam), word_node_of);
  Split both = Union(split, nbest);
  return Assemble(both, lat, finals, static_cast<float>(beam), word_node_of);
}

}  // namespace

SearchResult BuildResult(const TokenLattice& lattice, const std::vector<FinalHyp>& finals, const TokenTable& tokens,
                         double lattice_beam, size_t max_arcs, Confidence confidence,
                         const std::vector<FrameSignal>& frame_signals, bool final) {
  SearchResult r;
  r.final = final;
  r.frame_signals = frame_signals;
  if (finals.empty()) return r;

  std::vector<int32_t> word_node_of;
  r.lattice = BuildWordLattice(lattice, finals, tokens, lattice_beam, max_arcs, &word_node_of);
  // Each hypothesis's own alignment: its nodes' best incoming arcs back to the start.
  std::vector<float> token_logprob;  // of the best hypothesis's tokens
  for (const FinalHyp& f : finals) {
    NbestEntry e{tokens.Text(f.tokens), f.tokens, {}, f.acoustic + f.bias, f.acoustic, f.bias,
                 word_node_of[size_t(f.node)]};
    for (int32_t v = f.node; lattice.best_in(v) >= 0; v = lattice.arcs()[size_t(lattice.best_in(v))].from) {
      const TokenArc& a = lattice.arcs()[size_t(lattice.best_in(v))];
      if (a.label < 0 || a.label == tokens.blank_id()) continue;
      e.token_frames.push_back(a.frame);
      if (&f == &finals.front()) token_logprob.push_back(static_cast<float>(a.acoustic));
    }
    std::reverse(e.token_frames.begin(), e.token_frames.end());
    if (e.token_frames.size() != f.tokens.size())
      throw std::logic_error("internal: a hypothesis's alignment does not match its tokens");
    r.nbest.push_back(std::move(e));
  }
  std::reverse(token_logprob.begin(), token_logprob.end());

  const FinalHyp& best = finals.front();
  r.token_frames = r.nbest.front().token_frames;
  r.tokens = best.tokens;
  r.text = tokens.Text(best.tokens);
  r.acoustic = best.acoustic;
  r.bias = best.bias;
  r.score = best.acoustic + best.bias;

  // Words: a word-starting token opens one; empty words (a lone "▁") are skipped.
  std::unordered_map<std::string_view, std::vector<int32_t>> arcs_of;  // lattice arcs by word
  if (confidence == Confidence::kPosterior)
    for (size_t k = 0; k < r.lattice.arcs.size(); ++k) arcs_of[r.lattice.arcs[k].word].push_back(int32_t(k));
  for (size_t i = 0; i < r.tokens.size();) {
    size_t j = i + 1;
    while (j < r.tokens.size() && !tokens.StartsWord(r.tokens[j])) ++j;
    WordResult w{tokens.Text(r.tokens.data() + i, j - i), r.token_frames[i], r.token_frames[j - 1], 0.f};
    if (!w.word.empty()) {
      double c = 0;
      if (confidence == Confidence::kTokenProbs) {
        for (size_t k = i; k < j; ++k) c += token_logprob[k];
        c = std::exp(c / static_cast<double>(j - i));
      } else {
        const auto it = arcs_of.find(w.word);
        if (it != arcs_of.end())
          for (int32_t k : it->second) {
            const WordArc& a = r.lattice.arcs[size_t(k)];
            if (a.start_frame <= w.end_frame && a.end_frame >= w.start_frame) c += a.posterior;
          }
      }
      w.confidence = static_cast<float>(std::clamp(c, 0.0, 1.0));
      r.words.push_back(std::move(w));
    }
    i = j;
  }
  return r;
}

void CheckSearchInputs(const TransducerScorer* scorer, const TokenTable& tokens, const ContextGraph* graph) {
  if (scorer->context_size() < 1)
    throw std::invalid_argument("scorer: context_size must be >= 1, got " + std::to_string(scorer->context_size()));
  if (scorer->joiner_dim() < 1)
    throw std::invalid_argument("scorer: joiner_dim must be >= 1, got " + std::to_string(scorer->joiner_dim()));
  if (tokens.size() != scorer->vocab_size())
    throw std::invalid_argument("pieces: the token table has " + std::to_string(tokens.size()) +
                                " pieces but the scorer " + std::to_string(scorer->vocab_size()) + " output classes");
  if (graph) {
    if (graph->max_token() >= scorer->vocab_size())
      throw std::invalid_argument("context_graph: token id " + std::to_string(graph->max_token()) +
                                  " is outside the vocabulary of " + std::to_string(scorer->vocab_size()));
    if (graph->UsesToken(scorer->blank_id()))
      throw std::invalid_argument("context_graph: a phrase contains the blank id " +
                                  std::to_string(scorer->blank_id()));
  }
}

TokenTable MakeTokenTable(const TransducerScorer* scorer, std::vector<std::string> pieces) {
  if (!scorer) throw std::invalid_argument("scorer: null");
  if (scorer->vocab_size() < 2)
    throw std::invalid_argument("scorer: vocab_size must be >= 2, got " + std::to_string(scorer->vocab_size()));
  if (scorer->blank_id() < 0 || scorer->blank_id() >= scorer->vocab_size())
    throw std::invalid_argument("scorer: blank_id " + std::to_string(scorer->blank_id()) + " is outside [0, " +
                                std::to_string(scorer->vocab_size()) + ")");
  if (pieces.size() != static_cast<size_t>(scorer->vocab_size()))
    throw std::invalid_argument("pieces: the token table has " + std::to_string(pieces.size()) +
                                " pieces but the scorer " + std::to_string(scorer->vocab_size()) + " output classes");
  return TokenTable(std::move(pieces), scorer->blank_id());
}

}  // namespace edgeasr::search
