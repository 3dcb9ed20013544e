#include "edgeasr/named_tensors.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace edgeasr {

std::string ShapeString(const std::vector<size_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

TensorReader::TensorReader(const NamedTensors& tensors) : tensors_(tensors) {
  for (const auto& [name, t] : tensors_.floats) {
    if (tensors_.quantized.count(name))
      throw std::invalid_argument("tensor '" + name + "': given both as float and as a quantized matrix");
    size_t n = 1;
    for (size_t d : t.shape) {
      if (d != 0 && n > std::numeric_limits<size_t>::max() / d)
        throw std::invalid_argument("tensor '" + name + "': shape " + ShapeString(t.shape) + " is too large");
      n *= d;
    }
    if (n != t.data.size())
      throw std::invalid_argument("tensor '" + name + "': shape " + ShapeString(t.shape) + " needs " +
                                  std::to_string(n) + " values, got " + std::to_string(t.data.size()));
  }
}

std::vector<float> TensorReader::Float(const std::string& name, const std::vector<size_t>& shape) {
  const auto it = tensors_.floats.find(name);
  if (it == tensors_.floats.end()) {
    if (tensors_.quantized.count(name))
      throw std::invalid_argument("tensor '" + name + "': must be float32, got a quantized matrix");
    throw std::invalid_argument("tensor '" + name + "': missing (expected shape " + ShapeString(shape) + ")");
  }
  const FloatTensor& t = it->second;
  if (t.shape != shape)
    throw std::invalid_argument("tensor '" + name + "': expected shape " + ShapeString(shape) + ", got " +
                                ShapeString(t.shape));
  for (size_t i = 0; i < t.data.size(); ++i)
    if (!std::isfinite(t.data[i]))
      throw std::invalid_argument("tensor '" + name + "': non-finite value at flat index " + std::to_string(i));
  taken_.insert(name);
  return t.data;
}

Linear TensorReader::TakeLinear(const std::string& name, size_t out, size_t in, const std::string& bias_name) {
  return TakeLinear(name, out, in, bias_name.empty() ? std::vector<float>() : Float(bias_name, {out}));
}

Linear TensorReader::TakeLinear(const std::string& name, size_t out, size_t in, std::vector<float> bias) {
  const auto q = tensors_.quantized.find(name);
  if (q == tensors_.quantized.end()) {
    const std::vector<float> w = Float(name, {out, in});
    return Linear(w.data(), out, in, std::move(bias));
  }
  const QuantizedMatrix& m = q->second;
  if (m.rows() != out || m.cols() != in)
    throw std::invalid_argument("tensor '" + name + "': expected shape " + ShapeString({out, in}) + ", got " +
                                ShapeString({m.rows(), m.cols()}) + " (quantized, " + FormatName(m.format()) + ")");
  taken_.insert(name);
  return Linear(m, std::move(bias));
}

void TensorReader::CheckAllTaken() const {
  std::string unexpected;
  for (const auto& [name, t] : tensors_.floats)
    if (!taken_.count(name)) unexpected += (unexpected.empty() ? "'" : ", '") + name + "'";
  for (const auto& [name, m] : tensors_.quantized)
    if (!taken_.count(name)) unexpected += (unexpected.empty() ? "'" : ", '") + name + "'";
  if (!unexpected.empty()) throw std::invalid_argument("unexpected tensors: " + unexpected);
}

}  // namespace edgeasr
