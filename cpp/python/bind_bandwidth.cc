#include "bind_bandwidth.h"

#include <pybind11/stl.h>

#include "edgeasr/read_bandwidth.h"

namespace edgeasr {

void PybindBandwidth(pybind11::module& m) {
  m.def(
      "measure_read_bandwidth",
      [](size_t bytes, int passes) {
        pybind11::gil_scoped_release release;
        return MeasureReadBandwidth(bytes, passes);
      },
      pybind11::arg("bytes"), pybind11::arg("passes"),
      "Bytes per second of each of `passes` single-thread reads of a `bytes`-long buffer.");
}

}  // namespace edgeasr
