#pragma once
#include <pybind11/pybind11.h>

namespace edgeasr {
void PybindFrontend(pybind11::module& m);
}
