// Python view of the search: context graph, greedy and beam search over any TransducerScorer, results as dicts.
#include "bind_search.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "checked_array.h"
#include "edgeasr/beam_search.h"
#include "edgeasr/bias_phrases.h"
#include "edgeasr/bpe_encoder.h"
#include "edgeasr/context_graph.h"
#include "edgeasr/grammar.h"
#include "edgeasr/greedy_search.h"
#include "edgeasr/ngram_lm.h"
#include "edgeasr/table_scorer.h"
#include "edgeasr/transducer_scorer.h"

namespace py = pybind11;

namespace edgeasr {
namespace {

// A copy of a 1-D array of exactly dtype T.
template <typename T>
std::vector<T> ToVector(const py::handle& obj, const char* name) {
  const CArray<T> a = CheckedArray<T>(obj, name, {-1});
  return std::vector<T>(a.data(), a.data() + a.size());
}

// The scorer inside `obj`, kept alive (and its Python object with it) for as long as a search holds it. Works
// whatever holder the scorer's binding uses (TransducerModel and TableScorer are bound with TransducerScorer as base).
std::shared_ptr<const TransducerScorer> ScorerFrom(const py::object& obj) {
  const TransducerScorer* scorer = nullptr;
  try {
    scorer = obj.cast<const TransducerScorer*>();
  } catch (const py::cast_error&) {
  }
  if (!scorer)
    throw py::value_error("scorer: expected a TransducerScorer (TransducerModel, TableScorer), got " + TypeName(obj));
  PyObject* ref = obj.inc_ref().ptr();
  return std::shared_ptr<const TransducerScorer>(scorer, [ref](const TransducerScorer*) {
    py::gil_scoped_acquire gil;
    Py_DECREF(ref);
  });
}

std::vector<BiasPhrase> PhrasesFrom(const py::iterable& phrases) {
  std::vector<BiasPhrase> out;
  size_t i = 0;
  for (const py::handle item : phrases) {
    const std::string where = "phrases[" + std::to_string(i++) + "]";
    if (!py::isinstance<py::sequence>(item) || py::isinstance<py::str>(item) || py::len(item) != 2)
      throw py::value_error(where + ": expected a (token ids, weight) pair, got " + TypeName(item));
    const auto pair = py::reinterpret_borrow<py::sequence>(item);
    BiasPhrase p;
    try {
      p.tokens = pair[0].cast<std::vector<int32_t>>();
      p.weight = pair[1].cast<float>();
    } catch (const py::cast_error&) {
      throw py::value_error(where + ": expected (list of int, float)");
    }
    out.push_back(std::move(p));
  }
  return out;
}

// The result as Python objects. A streaming caller that shows partial results asks for the best path alone
// (lattice=false): converting the N-best list and the lattice into dicts cost more than the rest of the result, and
// grew with the utterance. The per-frame signals are frame_signals()'s, not part of the result.
py::dict ToDict(const SearchResult& r, bool with_lattice) {
  py::list words, nbest, nodes, arcs;
  for (const WordResult& w : r.words)
    words.append(py::dict(py::arg("word") = w.word, py::arg("start_frame") = w.start_frame,
                          py::arg("end_frame") = w.end_frame, py::arg("confidence") = w.confidence));
  py::dict out(py::arg("text") = r.text, py::arg("tokens") = r.tokens, py::arg("token_frames") = r.token_frames,
               py::arg("words") = words, py::arg("score") = r.score, py::arg("acoustic") = r.acoustic,
               py::arg("bias") = r.bias, py::arg("final") = r.final);
  if (!with_lattice) return out;
  for (const NbestEntry& e : r.nbest)
    nbest.append(py::dict(py::arg("text") = e.text, py::arg("tokens") = e.tokens,
                          py::arg("token_frames") = e.token_frames, py::arg("score") = e.score,
                          py::arg("acoustic") = e.acoustic, py::arg("bias") = e.bias,
                          py::arg("lattice_final") = e.lattice_final));
  const WordLattice& lat = r.lattice;
  for (int32_t v = 0; v < lat.num_nodes(); ++v)
    nodes.append(py::dict(py::arg("id") = v, py::arg("frame") = lat.node_frames[size_t(v)]));
  for (const WordArc& a : lat.arcs) {
    py::dict d;
    d["from"] = a.from;
    d["to"] = a.to;
    d["word"] = a.word;
    d["start_frame"] = a.start_frame;
    d["end_frame"] = a.end_frame;
    d["acoustic"] = a.acoustic;
    d["bias"] = a.bias;
    d["posterior"] = a.posterior;
    arcs.append(std::move(d));
  }
  out["nbest"] = nbest;
  out["lattice"] = py::dict(py::arg("nodes") = nodes, py::arg("arcs") = arcs, py::arg("start") = lat.start,
                            py::arg("finals") = lat.finals, py::arg("beam") = lat.beam,
                            py::arg("num_paths") = lat.CountPaths(), py::arg("serialized_size") = lat.SerializedSize());
  return out;
}

// The methods both searches share; every call into the search runs without the GIL.
template <typename Search, typename Class>
void DefStreamMethods(Class& c) {
  c.def(
       "accept_frames",
       [](Search& s, const py::object& enc) {
         const CArray<float> a = CheckedArray<float>(enc, "enc", {-1, s.scorer().joiner_dim()});
         const float* data = a.data();
         const size_t t = size_t(a.shape(0));
         py::gil_scoped_release release;
         s.AcceptFrames(data, t);
       },
       py::arg("enc"), "enc float32 [t, joiner_dim]: projected encoder frames continuing the utterance.")
      .def("settle", &Search::Settle, py::call_guard<py::gil_scoped_release>(),
           "End-point: remove every pending biasing bonus; phrase matching restarts. Decoding may go on.")
      .def("finalize", &Search::Finalize, py::call_guard<py::gil_scoped_release>(),
           "End of the utterance: settle; no more frames until reset().")
      .def("reset", &Search::Reset, py::call_guard<py::gil_scoped_release>(), "Start a new utterance.")
      .def(
          "result",
          [](const Search& s, bool lattice) {
            SearchResult r;
            {
              py::gil_scoped_release release;
              r = s.Result();
            }
            return ToDict(r, lattice);
          },
          py::arg("lattice") = true,
          "The result so far as a dict (before finalize(), scores include pending biasing bonuses): text, tokens, "
          "token_frames, words, score, acoustic, bias, final, and with lattice=True the nbest list and the lattice.")
      .def(
          "frame_signals",
          [](const Search& s) {
            const std::vector<FrameSignal>& f = s.FrameSignals();
            py::array_t<float> blank(py::ssize_t(f.size()));
            py::array_t<int32_t> trailing(py::ssize_t(f.size()));
            for (size_t t = 0; t < f.size(); ++t) {
              blank.mutable_data()[t] = f[t].blank_logprob;
              trailing.mutable_data()[t] = f[t].trailing_blank_frames;
            }
            return py::dict(py::arg("blank_logprob") = blank, py::arg("trailing_blank_frames") = trailing);
          },
          "Per frame: blank_logprob float32 [T], trailing_blank_frames int32 [T].")
      .def_property_readonly("num_frames", &Search::NumFrames)
      .def_property_readonly("finalized", &Search::Finalized)
      .def_property_readonly("config", &Search::config);
}

}  // namespace

void PybindSearch(py::module& m) {
  py::class_<TransducerScorer>(m, "TransducerScorer",
                                 "What a search needs from the network (abstract): TransducerModel, TableScorer.")
        .def_property_readonly("vocab_size", &TransducerScorer::vocab_size)
        .def_property_readonly("blank_id", &TransducerScorer::blank_id)
        .def_property_readonly("context_size", &TransducerScorer::context_size)
        .def_property_readonly("joiner_dim", &TransducerScorer::joiner_dim);

  py::class_<TableScorer, TransducerScorer>(
      m, "TableScorer",
      "A scorer of tables for tests: log-softmax of logits set per (frame, context), else pseudo-random ones. "
      "Encoder rows carry the frame index (encoder_frames makes them).")
      .def(py::init([](int vocab_size, int blank_id, int context_size, uint64_t seed, float scale, float blank_bias) {
             TableScorerOptions o;
             o.vocab_size = vocab_size;
             o.blank_id = blank_id;
             o.context_size = context_size;
             o.seed = seed;
             o.scale = scale;
             o.blank_bias = blank_bias;
             return std::make_unique<TableScorer>(o);
           }),
           py::arg("vocab_size"), py::arg("blank_id") = 0, py::arg("context_size") = 2, py::arg("seed") = 0,
           py::arg("scale") = 1.0f, py::arg("blank_bias") = 0.0f)
      .def("set", &TableScorer::Set, py::arg("frame"), py::arg("context"), py::arg("logits"),
           "Logits [vocab_size] at (frame, context); set them up before decoding.")
      .def(
          "encoder_frames",
          [](const TableScorer& t, int32_t first_frame, int32_t count) {
            if (count < 0) throw py::value_error("count: must be >= 0");
            const std::vector<float> enc = t.EncoderFrames(first_frame, count);
            py::array_t<float> out({py::ssize_t(count), py::ssize_t(t.joiner_dim())});
            std::copy(enc.begin(), enc.end(), out.mutable_data());
            return out;
          },
          py::arg("first_frame"), py::arg("count"), "float32 [count, joiner_dim] for frames first_frame, ...")
      .def(
          "log_probs",
          [](const TableScorer& t, int32_t frame, const std::vector<int32_t>& context) {
            const std::vector<float> lp = t.LogProbs(frame, context);
            py::array_t<float> out(py::ssize_t(lp.size()));
            std::copy(lp.begin(), lp.end(), out.mutable_data());
            return out;
          },
          py::arg("frame"), py::arg("context"), "What the joiner returns at (frame, context): float32 [vocab_size].");

  // dynamic_attr: Recognizer.context_graph tags a graph with the token table it was built from.
  py::class_<ContextGraph, std::shared_ptr<ContextGraph>>(
      m, "ContextGraph", py::dynamic_attr(),
      "Shallow-fusion biasing phrases (Aho-Corasick over token ids). Per-token bonus bonus_per_token * weight; a "
      "complete phrase keeps bonus * length once a word boundary follows it; partial matches are refunded when they "
      "fail or at settle. Immutable; share one between streams.")
      .def(py::init([](const py::iterable& phrases, float bonus_per_token, std::vector<int32_t> word_continuations) {
             std::vector<BiasPhrase> p = PhrasesFrom(phrases);
             py::gil_scoped_release release;
             return std::make_shared<ContextGraph>(p, ContextGraphConfig{bonus_per_token}, word_continuations);
           }),
           py::arg("phrases"), py::arg("bonus_per_token") = 1.5f, py::arg("word_continuations") = std::vector<int32_t>{},
           "phrases: iterable of (token ids, weight); weight >= 0, weight 0 drops the phrase. word_continuations: "
           "token ids that continue a word (pieces without the word-start mark); a complete phrase followed by one "
           "loses its bonus. Empty: every token is a word boundary.")
      .def_static(
          "from_texts",
          [](const BpeEncoder& bpe, const std::vector<std::string>& texts, const std::vector<float>& weights,
             float bonus_per_token, const std::vector<int32_t>& word_continuations) {
            py::gil_scoped_release release;
            return std::make_shared<ContextGraph>(EncodeBiasPhrases(bpe, texts, weights),
                                                  ContextGraphConfig{bonus_per_token}, word_continuations);
          },
          py::arg("encoder"), py::arg("texts"), py::arg("weights"), py::arg("bonus_per_token") = 1.5f,
          py::arg("word_continuations") = std::vector<int32_t>{},
          "The graph of phrases given as text (normalized: stripped, lowercased), tokenized by encoder in one "
          "native call; ValueError 'context[i]: ...' for a phrase without tokens or one that maps to <unk>.")
      .def_property_readonly_static("root", [](const py::object&) { return ContextGraph::kRoot; })
      .def(
          "forward",
          [](const ContextGraph& g, int32_t state, int32_t token) {
            if (state < 0 || state >= g.num_states()) throw py::value_error("state: out of range");
            const ContextGraph::Step s = g.Forward(state, token);
            return py::make_tuple(s.state, s.bonus);
          },
          py::arg("state"), py::arg("token"), "(next state, bonus) after one token.")
      .def(
          "pending",
          [](const ContextGraph& g, int32_t state) {
            if (state < 0 || state >= g.num_states()) throw py::value_error("state: out of range");
            return g.Pending(state);
          },
          py::arg("state"), "The partial-match bonus a settle would refund.")
      .def("score", &ContextGraph::Score, py::arg("tokens"), py::arg("settle") = true,
           "Bias of a token sequence from the root (settled: complete matches only).")
      .def_property_readonly("num_states", &ContextGraph::num_states)
      .def_property_readonly("num_phrases", &ContextGraph::num_phrases)
      .def_property_readonly("bonus_per_token", [](const ContextGraph& g) { return g.config().bonus_per_token; });

  py::class_<Grammar, std::shared_ptr<Grammar>>(
      m, "Grammar",
      "Phrases the beam search may only emit (command and control): a trie over their token ids; with repeat, any "
      "sequence of them; the empty transcript too unless allow_empty is false. Immutable; share one between streams.")
      .def(py::init([](const std::vector<std::vector<int32_t>>& phrases, bool repeat, bool allow_empty) {
             py::gil_scoped_release release;
             return std::make_shared<Grammar>(phrases, repeat, allow_empty);
           }),
           py::arg("phrases"), py::arg("repeat") = false, py::arg("allow_empty") = true,
           "phrases: a list of token-id lists.")
      .def_property_readonly_static("start", [](const py::object&) { return Grammar::kStart; })
      .def_property_readonly_static("rejected", [](const py::object&) { return Grammar::kRejected; })
      .def("next", &Grammar::Next, py::arg("state"), py::arg("token"),
           "The state after token, or Grammar.rejected when the grammar does not allow it there.")
      .def("is_final", [](const Grammar& g, int32_t state) {
             if (state < 0 || state >= g.num_states()) throw py::value_error("state: out of range");
             return g.IsFinal(state);
           }, py::arg("state"), "Whether a transcript may end in state.")
      .def("can_continue", &Grammar::CanContinue, py::arg("state"),
           "Whether some token may follow state (a longer phrase; with repeat, the next phrase after a whole one).")
      .def_property_readonly("num_states", &Grammar::num_states)
      .def_property_readonly("num_phrases", &Grammar::num_phrases)
      .def_property_readonly("repeat", &Grammar::repeat)
      .def_property_readonly("allow_empty", &Grammar::allow_empty);

  py::class_<NgramLm, std::shared_ptr<NgramLm>>(
      m, "NgramLm",
      "A backoff n-gram LM over token ids, compiled into arrays (edgeasr.ngram_lm builds them from ARPA text), for "
      "shallow fusion in the beam search. Immutable; share one between streams.")
      .def(py::init([](int32_t vocab_size, int32_t start_state, int32_t blank, const py::object& backoff,
                       const py::object& suffix, const py::object& arc_offsets, const py::object& arc_token,
                       const py::object& arc_logprob, const py::object& arc_next) {
             NgramLmArrays a;
             a.vocab_size = vocab_size;
             a.start_state = start_state;
             a.backoff = ToVector<float>(backoff, "backoff");
             a.suffix = ToVector<int32_t>(suffix, "suffix");
             a.arc_offsets = ToVector<int64_t>(arc_offsets, "arc_offsets");
             a.arc_token = ToVector<int32_t>(arc_token, "arc_token");
             a.arc_logprob = ToVector<float>(arc_logprob, "arc_logprob");
             a.arc_next = ToVector<int32_t>(arc_next, "arc_next");
             py::gil_scoped_release release;
             return std::make_shared<NgramLm>(std::move(a), blank);
           }),
           py::arg("vocab_size"), py::arg("start_state"), py::arg("blank"), py::arg("backoff"), py::arg("suffix"),
           py::arg("arc_offsets"), py::arg("arc_token"), py::arg("arc_logprob"), py::arg("arc_next"),
           "Arrays as in cpp/include/edgeasr/ngram_lm.h (1-D, C-contiguous); ValueError naming the first fault.")
      .def("score", [](const NgramLm& lm, int32_t state, int32_t token) {
             const NgramLm::Step s = lm.Score(state, token);
             return py::make_tuple(s.logprob, s.state);
           }, py::arg("state"), py::arg("token"),
           "(ln P(token | state), next state); token == vocab_size is the end of sentence.")
      .def("score_all", [](const NgramLm& lm, int32_t state) {
             py::array_t<float> logprob(lm.vocab_size());
             py::array_t<int32_t> next(lm.vocab_size());
             lm.ScoreAll(state, logprob.mutable_data(), next.mutable_data());
             return py::make_tuple(logprob, next);
           }, py::arg("state"), "(ln P(t | state), next state) for every token t (the blank's: 0, state).")
      .def_property_readonly("vocab_size", &NgramLm::vocab_size)
      .def_property_readonly("start_state", &NgramLm::start_state)
      .def_property_readonly("num_states", &NgramLm::num_states)
      .def_property_readonly("num_arcs", &NgramLm::num_arcs)
      .def_property_readonly("order", &NgramLm::order);

  py::class_<BpeEncoder, std::shared_ptr<BpeEncoder>>(
      m, "BpeEncoder",
      "Text to token ids by sentencepiece-style BPE over a token table, as TokenTable.encode does. Immutable.")
      .def(py::init<std::vector<std::string>, std::vector<double>>(), py::arg("pieces"), py::arg("scores"))
      .def("encode", &BpeEncoder::Encode, py::arg("text"), py::call_guard<py::gil_scoped_release>(),
           "Token ids of text (ValueError for a character the table cannot spell when it has no <unk>).");

  py::class_<GreedySearchConfig>(m, "GreedySearchConfig")
      .def(py::init([](float blank_penalty) { return GreedySearchConfig{blank_penalty}; }),
           py::arg("blank_penalty") = 0.0f)
      .def_readwrite("blank_penalty", &GreedySearchConfig::blank_penalty)
      .def("validate", &GreedySearchConfig::Validate)
      .def("__repr__", &GreedySearchConfig::ToString);

  py::class_<BeamSearchConfig>(m, "BeamSearchConfig")
      .def(py::init([](int32_t beam, float blank_penalty, float lattice_beam, int32_t decoder_cache_size,
                       int32_t max_lattice_arcs, float token_reward, float lm_scale, bool lm_end_of_sentence,
                       float ilm_scale) {
             return BeamSearchConfig{beam,           blank_penalty, lattice_beam, decoder_cache_size,
                                     max_lattice_arcs, token_reward, lm_scale, lm_end_of_sentence, ilm_scale};
           }),
           py::arg("beam") = 4, py::arg("blank_penalty") = 0.0f, py::arg("lattice_beam") = 8.0f,
           py::arg("decoder_cache_size") = 1024, py::arg("max_lattice_arcs") = 20000, py::arg("token_reward") = 0.0f,
           py::arg("lm_scale") = 0.0f, py::arg("lm_end_of_sentence") = true, py::arg("ilm_scale") = 0.0f)
      .def_readwrite("beam", &BeamSearchConfig::beam)
      .def_readwrite("blank_penalty", &BeamSearchConfig::blank_penalty)
      .def_readwrite("lattice_beam", &BeamSearchConfig::lattice_beam)
      .def_readwrite("decoder_cache_size", &BeamSearchConfig::decoder_cache_size)
      .def_readwrite("max_lattice_arcs", &BeamSearchConfig::max_lattice_arcs)
      .def_readwrite("token_reward", &BeamSearchConfig::token_reward)
      .def_readwrite("lm_scale", &BeamSearchConfig::lm_scale)
      .def_readwrite("lm_end_of_sentence", &BeamSearchConfig::lm_end_of_sentence)
      .def_readwrite("ilm_scale", &BeamSearchConfig::ilm_scale)
      .def("validate", &BeamSearchConfig::Validate)
      .def("__repr__", &BeamSearchConfig::ToString);

  py::class_<GreedySearch> greedy(m, "GreedySearch",
                                  "Greedy search, one symbol per frame at most; one per stream.");
  greedy.def(py::init([](const py::object& scorer, std::vector<std::string> tokens, const GreedySearchConfig& config,
                         std::shared_ptr<ContextGraph> context_graph) {
               return std::make_unique<GreedySearch>(ScorerFrom(scorer), std::move(tokens), config,
                                                     std::move(context_graph));
             }),
             py::arg("scorer"), py::arg("tokens"), py::arg("config") = GreedySearchConfig{},
             py::arg("context_graph") = py::none(),
             "tokens: the token table's pieces by id (len == scorer.vocab_size).");
  DefStreamMethods<GreedySearch>(greedy);

  py::class_<BeamSearch> beam(m, "BeamSearch",
                              "Modified beam search with biasing and a word lattice; one per stream.");
  beam.def(py::init([](const py::object& scorer, std::vector<std::string> tokens, const BeamSearchConfig& config,
                       std::shared_ptr<ContextGraph> context_graph, std::shared_ptr<Grammar> grammar,
                       std::shared_ptr<NgramLm> lm) {
             return std::make_unique<BeamSearch>(ScorerFrom(scorer), std::move(tokens), config,
                                                 std::move(context_graph), std::move(grammar), std::move(lm));
           }),
           py::arg("scorer"), py::arg("tokens"), py::arg("config") = BeamSearchConfig{},
           py::arg("context_graph") = py::none(), py::arg("grammar") = py::none(), py::arg("lm") = py::none(),
           "tokens: the token table's pieces by id (len == scorer.vocab_size). grammar: only its phrases may be "
           "emitted (Grammar). lm: an n-gram LM over the same tokens, fused with weight config.lm_scale (NgramLm).")
      .def_property_readonly("num_active", &BeamSearch::NumActive);
  DefStreamMethods<BeamSearch>(beam);
}

}  // namespace edgeasr
