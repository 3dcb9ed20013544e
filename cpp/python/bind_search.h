#pragma once
#include <pybind11/pybind11.h>

namespace edgeasr {
// TransducerScorer (the base any scorer binding may derive from; registered once), TableScorer, ContextGraph,
// GreedySearch and BeamSearch with their configs.
void PybindSearch(pybind11::module& m);
}
