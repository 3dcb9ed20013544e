// Python view of the runtime network: TransducerModel built from a config dict and named tensors, EncoderState.
#include "bind_runtime.h"

#include <pybind11/numpy.h>

#include <string>
#include <utility>
#include <vector>

#include "checked_array.h"
#include "edgeasr/quantized_matrix.h"
#include "edgeasr/transducer_model.h"

namespace py = pybind11;

namespace edgeasr {
namespace {

// The config fields by name; every one but blank_id is required.
const std::pair<const char*, int TransducerConfig::*> kConfigFields[] = {
    {"num_features", &TransducerConfig::num_features}, {"stack", &TransducerConfig::stack},
    {"d_model", &TransducerConfig::d_model},           {"hidden", &TransducerConfig::hidden},
    {"num_layers", &TransducerConfig::num_layers},     {"decoder_dim", &TransducerConfig::decoder_dim},
    {"context_size", &TransducerConfig::context_size}, {"joiner_dim", &TransducerConfig::joiner_dim},
    {"vocab_size", &TransducerConfig::vocab_size},     {"blank_id", &TransducerConfig::blank_id},
};

// Refuses unknown keys rather than ignoring them: a misspelt blank_id would otherwise silently become 0.
TransducerConfig ConfigFromDict(const py::dict& d) {
  TransducerConfig c;
  std::string known;
  for (const auto& [name, field] : kConfigFields) {
    known += std::string(known.empty() ? "" : ", ") + name;
    if (!d.contains(name)) {
      if (std::string(name) == "blank_id") continue;
      throw py::value_error(std::string("config: missing '") + name + "'");
    }
    const py::handle v = d[name];
    if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v))
      throw py::value_error(std::string("config['") + name + "']: expected an int, got " + TypeName(v));
    c.*field = v.cast<int>();
  }
  for (const auto& [key, value] : d) {
    const std::string k = py::str(key);
    bool ok = false;
    for (const auto& [name, field] : kConfigFields) ok = ok || k == name;
    if (!ok) throw py::value_error("config: unknown key '" + k + "' (known: " + known + ")");
  }
  c.Validate();
  return c;
}

NamedTensors TensorsFromDict(const py::dict& d) {
  NamedTensors t;
  for (const auto& [key, value] : d) {
    if (!py::isinstance<py::str>(key)) throw py::value_error("tensors: keys must be str, got " + TypeName(key));
    const std::string name = py::str(key);
    const std::string what = "tensors['" + name + "']";
    if (py::isinstance<QuantizedMatrix>(value)) {
      t.quantized.emplace(name, value.cast<const QuantizedMatrix&>());
      continue;
    }
    if (!py::isinstance<py::array>(value))
      throw py::value_error(what + ": expected a float32 numpy array or a QuantizedMatrix, got " + TypeName(value));
    const auto any = py::reinterpret_borrow<py::array>(value);
    const CArray<float> a = CheckedArray<float>(value, what, std::vector<py::ssize_t>(any.ndim(), -1));
    FloatTensor& f = t.floats[name];
    f.shape.assign(a.shape(), a.shape() + a.ndim());
    f.data.assign(a.data(), a.data() + a.size());
  }
  return t;
}

py::dict ConfigDict(const TransducerConfig& c) {
  py::dict d;
  for (const auto& [name, field] : kConfigFields) d[name] = c.*field;
  return d;
}

}  // namespace

void PybindRuntime(py::module& m) {
  py::class_<EncoderState>(m, "EncoderState",
                           "One stream's encoder state (LSTM h and c, frames waiting for a whole step). Opaque; make "
                           "it with TransducerModel.init_state(). Not to be used by two threads at once.")
      .def("copy", [](const EncoderState& s) { return EncoderState(s); }, "An independent copy.")
      .def("__copy__", [](const EncoderState& s) { return EncoderState(s); })
      .def("__deepcopy__", [](const EncoderState& s, py::dict) { return EncoderState(s); }, py::arg("memo"));

  py::class_<TransducerModel, TransducerScorer> model_class(m, "TransducerModel",
                              "The RNN-T network: streaming LSTM encoder, stateless decoder, joiner. Immutable and "
                              "safe to share between threads; each stream keeps its own EncoderState.");
  model_class
      .def(py::init([](const py::dict& config, const py::dict& tensors) {
             const TransducerConfig c = ConfigFromDict(config);
             NamedTensors t = TensorsFromDict(tensors);
             py::gil_scoped_release release;
             return std::make_unique<TransducerModel>(c, t);
           }),
           py::arg("config"), py::arg("tensors"),
           "config: dict of the TransducerConfig fields (blank_id optional, default 0; unknown keys refused). "
           "tensors: state_dict names -> float32 numpy arrays, or QuantizedMatrix for 2-D weight matrices.")
      .def("init_state", &TransducerModel::InitState, "A zero state for a new stream.")
      .def(
          "encode",
          [](const TransducerModel& model, const py::object& features, EncoderState& state) {
            const TransducerConfig& c = model.config();
            const CArray<float> f = CheckedArray<float>(features, "features", {-1, c.num_features});
            const float* fd = f.data();
            const size_t frames = f.shape(0);
            std::vector<float> out;
            {
              py::gil_scoped_release release;
              model.Encode(fd, frames, state, &out);
            }
            const size_t steps = out.size() / c.d_model;
            CArray<float> result({steps, static_cast<size_t>(c.d_model)});
            std::copy(out.begin(), out.end(), result.mutable_data());
            return result;
          },
          py::arg("features"), py::arg("state"),
          "features float32 [T, num_features] -> float32 [steps, d_model], steps = (pending + T) // stack; frames "
          "short of a whole step wait in the state, so any chunking gives the output of one call. Mutates state.")
      .def(
          "project_encoder",
          [](const TransducerModel& model, const py::object& enc) {
            const TransducerConfig& c = model.config();
            const CArray<float> e = CheckedArray<float>(enc, "enc", {-1, c.d_model});
            const float* ed = e.data();
            const size_t t = e.shape(0);
            CArray<float> out({t, static_cast<size_t>(c.joiner_dim)});
            float* od = out.mutable_data();
            py::gil_scoped_release release;
            model.ProjectEncoder(ed, t, od);
            return out;
          },
          py::arg("enc"), "enc float32 [t, d_model] -> float32 [t, joiner_dim].")
      .def(
          "decoder_projected",
          [](const TransducerModel& model, const py::object& contexts) {
            const TransducerConfig& c = model.config();
            const CArray<int32_t> ctx = CheckedArray<int32_t>(contexts, "contexts", {-1, c.context_size});
            const int32_t* cd = ctx.data();
            const size_t n = ctx.shape(0);
            CArray<float> out({n, static_cast<size_t>(c.joiner_dim)});
            float* od = out.mutable_data();
            py::gil_scoped_release release;
            model.DecoderProjected(cd, n, od);
            return out;
          },
          py::arg("contexts"),
          "contexts int32 [n, context_size] (oldest first, blank_id as padding) -> float32 [n, joiner_dim].")
      .def(
          "joint_log_probs",
          [](const TransducerModel& model, const py::object& enc_frame, const py::object& dec) {
            const TransducerConfig& c = model.config();
            const CArray<float> e = CheckedArray<float>(enc_frame, "enc_frame", {c.joiner_dim});
            const CArray<float> d = CheckedArray<float>(dec, "dec", {-1, c.joiner_dim});
            const float* ed = e.data();
            const float* dd = d.data();
            const size_t n = d.shape(0);
            CArray<float> out({n, static_cast<size_t>(c.vocab_size)});
            float* od = out.mutable_data();
            py::gil_scoped_release release;
            model.JointLogProbs(ed, dd, n, od);
            return out;
          },
          py::arg("enc_frame"), py::arg("dec"),
          "enc_frame float32 [joiner_dim] (projected), dec float32 [n, joiner_dim] (projected) -> float32 [n, "
          "vocab_size] log-probabilities.")
      .def(
          "state_arrays",
          [](const TransducerModel& model, const EncoderState& s) {
            const TransducerConfig& c = model.config();
            const size_t layers = c.num_layers, d = c.d_model, h = c.hidden, f = c.num_features;
            if (s.h.size() != layers * d || s.c.size() != layers * h || s.pending.size() % f != 0)
              throw py::value_error("state: not a state of this model");
            CArray<float> ha({layers, d}), ca({layers, h}), pa({s.pending.size() / f, f});
            std::copy(s.h.begin(), s.h.end(), ha.mutable_data());
            std::copy(s.c.begin(), s.c.end(), ca.mutable_data());
            std::copy(s.pending.begin(), s.pending.end(), pa.mutable_data());
            return py::make_tuple(ha, ca, pa);
          },
          py::arg("state"),
          "Copies of a state's h [num_layers, d_model], c [num_layers, hidden] and pending frames [p, num_features] "
          "(for comparison with PyTorch; one stream's h and c are sherpa-onnx's layout with N = 1).")
      .def_property_readonly("config", [](const TransducerModel& model) { return ConfigDict(model.config()); })
      .def("__repr__",
           [](const TransducerModel& model) { return "TransducerModel(" + model.config().ToString() + ")"; });

  // One read-only property per config field, e.g. model.vocab_size.
  for (const auto& [name, field] : kConfigFields) {
    const auto member = field;
    model_class.def_property_readonly(name, [member](const TransducerModel& model) { return model.config().*member; });
  }
}

}  // namespace edgeasr
