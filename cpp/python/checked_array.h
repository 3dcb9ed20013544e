// Checks the bindings share on what Python hands them: a type's name for messages, and numpy arrays of exactly the
// dtype and shape a native call expects (no silent conversion of a wrong dtype).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

namespace edgeasr {

template <typename T>
using CArray = pybind11::array_t<T, pybind11::array::c_style>;

inline std::string TypeName(const pybind11::handle& obj) {
  return pybind11::str(pybind11::type::of(obj).attr("__name__"));
}

// A numpy array of exactly dtype T, C-contiguous, with the given shape (-1: any size); ValueError naming `name`.
template <typename T>
CArray<T> CheckedArray(const pybind11::handle& obj, const std::string& name, std::vector<pybind11::ssize_t> shape) {
  namespace py = pybind11;
  if (!py::isinstance<py::array>(obj)) throw py::value_error(name + ": expected a numpy array, got " + TypeName(obj));
  const auto a = py::reinterpret_borrow<py::array>(obj);
  if (!py::isinstance<py::array_t<T>>(a))
    throw py::value_error(name + ": expected dtype " + std::string(py::str(py::dtype::of<T>())) + ", got " +
                          std::string(py::str(a.dtype())));
  bool shape_ok = static_cast<size_t>(a.ndim()) == shape.size();
  for (size_t i = 0; shape_ok && i < shape.size(); ++i) shape_ok = shape[i] < 0 || a.shape(i) == shape[i];
  if (!shape_ok) {
    std::string want = "[", got = "[";
    for (size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + (shape[i] < 0 ? "*" : std::to_string(shape[i]));
    for (py::ssize_t i = 0; i < a.ndim(); ++i) got += (i ? ", " : "") + std::to_string(a.shape(i));
    throw py::value_error(name + ": expected shape " + want + "], got " + got + "]");
  }
  if (!(a.flags() & py::array::c_style)) throw py::value_error(name + ": must be C-contiguous");
  return py::reinterpret_borrow<CArray<T>>(obj);
}

}  // namespace edgeasr
