#pragma once
#include <pybind11/pybind11.h>

namespace edgeasr {
void PybindBandwidth(pybind11::module& m);
}
