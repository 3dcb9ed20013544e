// Python view of the front end: StreamingFbank over float32 numpy arrays, the GIL released while it computes.
#include "bind_frontend.h"

#include <pybind11/numpy.h>

#include <algorithm>
#include <memory>
#include <string>

#include "edgeasr/streaming_fbank.h"

namespace py = pybind11;

namespace edgeasr {

void PybindFrontend(py::module& m) {
  auto settings = [](int sample_rate, int num_bins, float frame_length_ms, float frame_shift_ms, float dither,
                     bool snip_edges) {
    return FbankSettings{sample_rate, num_bins, frame_length_ms, frame_shift_ms, dither, snip_edges};
  };
  m.def(
      "check_fbank_settings",
      [settings](int sample_rate, int num_bins, float frame_length_ms, float frame_shift_ms, float dither,
                 bool snip_edges) {
        settings(sample_rate, num_bins, frame_length_ms, frame_shift_ms, dither, snip_edges).Validate();
      },
      py::arg("sample_rate"), py::arg("num_bins"), py::arg("frame_length_ms"), py::arg("frame_shift_ms"),
      py::arg("dither"), py::arg("snip_edges"),
      "ValueError naming the first setting the front end cannot take (FbankSettings::Validate).");
  py::class_<StreamingFbank>(m, "StreamingFbank",
                             "kaldi-native-fbank's online fbank for one stream (edgeasr.features.StreamingFbank "
                             "is the documented API)")
      .def(py::init([settings](int sample_rate, int num_bins, float frame_length_ms, float frame_shift_ms,
                               float dither, bool snip_edges) {
             return std::make_unique<StreamingFbank>(
                 settings(sample_rate, num_bins, frame_length_ms, frame_shift_ms, dither, snip_edges));
           }),
           py::arg("sample_rate"), py::arg("num_bins"), py::arg("frame_length_ms"), py::arg("frame_shift_ms"),
           py::arg("dither"), py::arg("snip_edges"))
      .def(
          "accept_waveform",
          [](StreamingFbank& self, const py::array& samples) {
            if (!py::isinstance<py::array_t<float>>(samples) || samples.ndim() != 1)
              throw py::value_error("samples: expected a 1-D float32 numpy array");
            // A contiguous view (a copy only for a strided array), read without the GIL.
            const auto a = py::array_t<float, py::array::c_style>::ensure(samples);
            const float* data = a.data();
            const int64_t n = a.size();
            py::gil_scoped_release release;
            self.AcceptWaveform(data, n);
          },
          py::arg("samples"))
      .def("input_finished", &StreamingFbank::InputFinished)
      .def_property_readonly("finished", &StreamingFbank::finished)
      .def_property_readonly("frames_ready", &StreamingFbank::frames_ready)
      .def_property_readonly("frames_taken", &StreamingFbank::frames_taken)
      .def_property_readonly("num_bins", &StreamingFbank::num_bins)
      .def(
          "take_frames",
          [](StreamingFbank& self, int64_t max_frames) {
            if (max_frames < 0) throw py::value_error("max_frames: must be >= 0, got " + std::to_string(max_frames));
            const int64_t n = std::min(max_frames, self.frames_ready());
            py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(self.num_bins())});
            float* dst = out.mutable_data();
            {
              py::gil_scoped_release release;
              self.TakeFrames(n, dst);
            }
            return out;
          },
          py::arg("max_frames"));
}

}  // namespace edgeasr
