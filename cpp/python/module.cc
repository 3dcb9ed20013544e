// The single PYBIND11_MODULE: it only calls each topic's binder.
#include <pybind11/pybind11.h>

#include "bind_bandwidth.h"
#include "bind_frontend.h"
#include "bind_kernels.h"
#include "bind_runtime.h"
#include "bind_search.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "edgeasr native core";
  edgeasr::PybindKernels(m);
  edgeasr::PybindBandwidth(m);
  edgeasr::PybindSearch(m);   // registers TransducerScorer, the base that TransducerModel derives from
  edgeasr::PybindRuntime(m);
  edgeasr::PybindFrontend(m);
}
