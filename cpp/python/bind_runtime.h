#pragma once
#include <pybind11/pybind11.h>

namespace edgeasr {
void PybindRuntime(pybind11::module& m);
}
