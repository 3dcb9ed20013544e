#pragma once
#include <pybind11/pybind11.h>

namespace edgeasr {
void PybindKernels(pybind11::module& m);
}
