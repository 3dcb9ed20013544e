// A network's weights by name (the PyTorch state_dict names), as handed to the runtime, and a reader that checks
// each tensor's shape as the network takes it.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "edgeasr/linear.h"
#include "edgeasr/quantized_matrix.h"

namespace edgeasr {

struct FloatTensor {
  std::vector<size_t> shape;
  std::vector<float> data;  // row-major, product(shape) values
};

// A name lives in one map only. 2-D weight matrices may come from either map; everything else is float.
struct NamedTensors {
  std::map<std::string, FloatTensor> floats;
  std::map<std::string, QuantizedMatrix> quantized;
};

// Takes tensors out of a NamedTensors, checking each: every failure throws std::invalid_argument that names the
// tensor and, for a shape, gives the expected and the actual one.
class TensorReader {
 public:
  explicit TensorReader(const NamedTensors& tensors);

  // The float tensor `name`, which must have exactly `shape` and finite values.
  std::vector<float> Float(const std::string& name, const std::vector<size_t>& shape);
  // The weight matrix `name` [out][in], float or quantized, with bias `bias_name` [out] (empty name: no bias).
  Linear TakeLinear(const std::string& name, size_t out, size_t in, const std::string& bias_name);
  // A matrix [out][in] as a Linear with a bias already in hand (empty: none).
  Linear TakeLinear(const std::string& name, size_t out, size_t in, std::vector<float> bias);
  // Throws if any tensor was never taken: a misspelt or unexpected name is an export bug, not something to ignore.
  void CheckAllTaken() const;

 private:
  const NamedTensors& tensors_;
  std::set<std::string> taken_;
};

// "[4, 80]"
std::string ShapeString(const std::vector<size_t>& shape);

}  // namespace edgeasr
