// Python view of quantized matrices, the kernels and their dispatch.
#include "bind_kernels.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "edgeasr/kernels.h"
#include "edgeasr/matmul.h"
#include "edgeasr/quantized_matrix.h"

namespace py = pybind11;

namespace edgeasr {
namespace {

// Python-side validation has already checked dtypes and shapes; forcecast is off so nothing is silently converted.
template <typename T>
using CArray = py::array_t<T, py::array::c_style>;

template <typename T>
const T* CheckedData(const CArray<T>& a, const char* name, size_t ndim) {
  if (static_cast<size_t>(a.ndim()) != ndim)
    throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(ndim) + " dimensions, got " +
                                std::to_string(a.ndim()));
  return a.data();
}

const KernelSet& KernelsNamed(const std::optional<std::string>& isa) {
  return isa ? KernelsFor(ParseIsa(*isa)) : ActiveKernels();
}

Format ParseFormat(const std::string& name) {
  for (Format f : {Format::kDenseQ8, Format::kDenseQ4, Format::kSparseQ8, Format::kSparseQ4})
    if (name == FormatName(f)) return f;
  throw std::invalid_argument("format: unknown format '" + name + "'");
}

}  // namespace

void PybindKernels(py::module& m) {
  py::class_<QuantizedMatrix>(m, "QuantizedMatrix")
      .def_static(
          "from_int",
          [](const std::string& format, const CArray<int8_t>& q, const CArray<float>& scales) {
            const int8_t* qd = CheckedData(q, "q", 2);
            const float* sd = CheckedData(scales, "scales", 1);
            if (static_cast<size_t>(scales.shape(0)) != static_cast<size_t>(q.shape(0)))
              throw std::invalid_argument("scales: need one scale per row of q");
            const Format f = ParseFormat(format);
            py::gil_scoped_release release;
            return QuantizedMatrix::FromInt(f, qd, q.shape(0), q.shape(1), sd);
          },
          py::arg("format"), py::arg("q"), py::arg("scales"))
      .def_static(
          "from_float",
          [](const std::string& format, const CArray<float>& w, std::optional<CArray<uint8_t>> keep) {
            const float* wd = CheckedData(w, "w", 2);
            const uint8_t* kd = nullptr;
            if (keep) {
              kd = CheckedData(*keep, "keep", 2);
              if (keep->shape(0) != w.shape(0) || keep->shape(1) != w.shape(1))
                throw std::invalid_argument("keep: must have the shape of w");
            }
            const Format f = ParseFormat(format);
            py::gil_scoped_release release;
            return QuantizedMatrix::FromFloat(f, wd, w.shape(0), w.shape(1), kd);
          },
          py::arg("format"), py::arg("w"), py::arg("keep") = py::none())
      .def_static(
          "from_parts",
          [](const std::string& format, size_t rows, size_t cols, const CArray<float>& scales,
             const CArray<uint8_t>& values, const CArray<uint64_t>& masks, const CArray<uint32_t>& row_offsets) {
            const float* sd = CheckedData(scales, "scales", 1);
            const uint8_t* vd = CheckedData(values, "values", 1);
            const uint64_t* md = CheckedData(masks, "masks", 1);
            const uint32_t* od = CheckedData(row_offsets, "row_offsets", 1);
            const Format f = ParseFormat(format);
            py::gil_scoped_release release;
            return QuantizedMatrix::FromParts(f, rows, cols, {sd, static_cast<size_t>(scales.shape(0))},
                                              {vd, static_cast<size_t>(values.shape(0))},
                                              {md, static_cast<size_t>(masks.shape(0))},
                                              {od, static_cast<size_t>(row_offsets.shape(0))});
          },
          py::arg("format"), py::arg("rows"), py::arg("cols"), py::arg("scales"), py::arg("values"),
          py::arg("masks"), py::arg("row_offsets"),
          "Rebuilds a matrix from untrusted stored parts; any inconsistency raises ValueError.")
      .def(
          "to_parts",
          [](const QuantizedMatrix& q) {
            // Copies: the arrays stay valid after q is gone.
            const auto values = q.values();
            const auto masks = q.masks();
            const auto offsets = q.row_offsets();
            CArray<uint64_t> m(static_cast<py::ssize_t>(masks.size()));
            uint64_t* md = m.mutable_data();
            for (size_t i = 0; i < masks.size(); ++i) md[i] = masks[i].bits;
            py::dict d;
            d["scales"] = CArray<float>(static_cast<py::ssize_t>(q.rows()), q.scales().data());
            d["values"] = CArray<uint8_t>(static_cast<py::ssize_t>(values.size()), values.data());
            d["masks"] = m;
            d["row_offsets"] = CArray<uint32_t>(static_cast<py::ssize_t>(offsets.size()), offsets.data());
            return d;
          },
          "The stored parts: scales, values (without padding), masks and row_offsets (empty when dense).")
      .def_property_readonly("format", [](const QuantizedMatrix& q) { return std::string(FormatName(q.format())); })
      .def_property_readonly("rows", &QuantizedMatrix::rows)
      .def_property_readonly("cols", &QuantizedMatrix::cols)
      .def_property_readonly("padded_cols", &QuantizedMatrix::padded_cols)
      .def_property_readonly("nonzeros", &QuantizedMatrix::nonzeros)
      .def_property_readonly("nbytes", &QuantizedMatrix::nbytes)
      .def_property_readonly("scales",
                             [](const QuantizedMatrix& q) {
                               return CArray<float>(static_cast<py::ssize_t>(q.rows()), q.scales().data());
                             })
      .def("decode_int8",
           [](const QuantizedMatrix& q) {
             CArray<int8_t> out({q.rows(), q.cols()});
             int8_t* d = out.mutable_data();
             py::gil_scoped_release release;
             q.DecodeInt8(d);
             return out;
           })
      .def("decode_float",
           [](const QuantizedMatrix& q) {
             CArray<float> out({q.rows(), q.cols()});
             float* d = out.mutable_data();
             py::gil_scoped_release release;
             q.DecodeFloat(d);
             return out;
           })
      .def(
          "matmul",
          [](const QuantizedMatrix& q, const CArray<float>& x, std::optional<std::string> isa) {
            const float* xd = CheckedData(x, "x", 2);
            if (static_cast<size_t>(x.shape(1)) != q.cols())
              throw std::invalid_argument("x: expected " + std::to_string(q.cols()) + " columns, got " +
                                          std::to_string(x.shape(1)));
            const KernelSet& ks = KernelsNamed(isa);
            const size_t m = x.shape(0);
            CArray<float> y({m, q.rows()});
            float* yd = y.mutable_data();
            py::gil_scoped_release release;
            if (m > 0) Matmul(q, xd, m, yd, ks);
            return y;
          },
          py::arg("x"), py::arg("isa") = py::none())
      .def(
          "matmul_int32",
          [](const QuantizedMatrix& q, const CArray<int8_t>& xq, std::optional<std::string> isa) {
            const int8_t* xd = CheckedData(xq, "xq", 2);
            if (static_cast<size_t>(xq.shape(1)) != q.padded_cols())
              throw std::invalid_argument("xq: expected " + std::to_string(q.padded_cols()) +
                                          " (padded) columns, got " + std::to_string(xq.shape(1)));
            const KernelSet& ks = KernelsNamed(isa);
            const size_t m = xq.shape(0);
            CArray<int32_t> acc({m, q.rows()});
            int32_t* ad = acc.mutable_data();
            py::gil_scoped_release release;
            if (m > 0) MatmulInt32(q.view(), xd, m, ad, ks);
            return acc;
          },
          py::arg("xq"), py::arg("isa") = py::none(),
          "Exact int32 products of int8 activations (already padded, in [-127, 127]) with the weights.");

  m.def(
      "quantize_activations",
      [](const CArray<float>& x, size_t padded_cols) {
        const float* xd = CheckedData(x, "x", 2);
        const size_t rows = x.shape(0), cols = x.shape(1);
        if (padded_cols < cols) throw std::invalid_argument("padded_cols: smaller than the columns of x");
        CArray<int8_t> xq({rows, padded_cols});
        CArray<float> scales(static_cast<py::ssize_t>(rows));
        int8_t* qd = xq.mutable_data();
        float* sd = scales.mutable_data();
        {
          py::gil_scoped_release release;  // released for the native work only: make_tuple needs the GIL
          QuantizeActivations(xd, rows, cols, padded_cols, qd, sd);
        }
        return py::make_tuple(xq, scales);
      },
      py::arg("x"), py::arg("padded_cols"));
  m.def(
      "magnitude_keep_mask",
      [](const CArray<float>& w, double sparsity) {
        CArray<uint8_t> keep(std::vector<py::ssize_t>(w.shape(), w.shape() + w.ndim()));
        const float* wd = w.data();
        uint8_t* kd = keep.mutable_data();
        const size_t n = w.size();
        py::gil_scoped_release release;
        MagnitudeKeepMask(wd, n, sparsity, kd);
        return keep;
      },
      py::arg("w"), py::arg("sparsity"));
  m.def("active_isa", [] { return std::string(IsaName(ActiveKernels().isa)); });
  m.def("supported_isas", [] {
    std::vector<std::string> out;
    for (Isa isa : SupportedIsas()) out.emplace_back(IsaName(isa));
    return out;
  });
  m.attr("BLOCK_COLS") = kBlockCols;
  m.attr("MAX_GEMM_ROWS") = kMaxGemmRows;
  m.attr("MAX_PARTS_DIM") = QuantizedMatrix::kMaxPartsDim;
}

}  // namespace edgeasr
