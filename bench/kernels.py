"""How fast are edgeasr's weight kernels next to numpy, torch and ONNX Runtime, on one thread?

    python bench/kernels.py            # full run: bench/results/kernels.{json,md,png}
    python bench/kernels.py --quick    # small shapes only: bench/results/kernels-quick.*, table on stdout

Every implementation gets several separately built copies of its weights and several activation inputs, rotated
call by call, so that the weights it reads add up to more than the L2 caches: a batch-1 product is a stream over
its weights, and timing one copy that sits in cache would flatter it.
"""

from __future__ import annotations

import os

# Record what the caller set, then force one thread before numpy loads its BLAS.
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_ENV_AT_START = {k: v for k, v in os.environ.items()
                 if k.startswith(("OMP_", "MKL_", "OPENBLAS_", "EDGEASR_"))}
for _var in _THREAD_VARS:
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Optional  # noqa: E402

import numpy as np  # noqa: E402

from machine import cpu_description, git_revision, package_versions  # noqa: E402

import edgeasr  # noqa: E402
from edgeasr import QuantizedMatrix, _core  # noqa: E402

try:
    import torch
except ImportError:
    torch = None
try:
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
except ImportError:
    ort = None

REPO = Path(__file__).resolve().parents[1]
MiB = 1 << 20


@dataclass(frozen=True)
class Shape:
    rows: int  # outputs
    cols: int  # inputs
    m: int = 1  # activation rows: 1 is a GEMV

    @property
    def label(self) -> str:
        op = "GEMV" if self.m == 1 else f"GEMM M={self.m}"
        return f"{op} {self.rows}×{self.cols}"


FULL_SHAPES = [Shape(1280, 320), Shape(2560, 1280), Shape(4096, 2048), Shape(8192, 4096), Shape(2560, 1280, 16)]
QUICK_SHAPES = [Shape(1280, 320), Shape(2560, 1280), Shape(2560, 1280, 16)]
OUR_FORMATS = [("dense int8", 8, None), ("dense int4", 4, None), ("sparse int8 50%", 8, 0.5),
               ("sparse int4 50%", 4, 0.5), ("sparse int4 70%", 4, 0.7)]
N_INPUTS = 8  # activation inputs rotated alongside the weight copies
MIN_COPIES, MAX_COPIES = 2, 64  # 64, not 16: sixteen copies of a 0.12 MB sparse int4 matrix would fit in L2
BUSY_LOAD = 1.5  # load average above which the report warns that other work shared the CPUs


@dataclass(frozen=True)
class Settings:
    budget_bytes: int  # weight working set each implementation should exceed
    target_s: float  # seconds of timed calls per row, unless min_reps takes longer
    min_reps: int
    max_reps: int = 20000


# ---------------------------------------------------------------------------------------------------------------
# Implementations: prepare(W) once per shape, build(prepared) once per copy, bind(copy, X, isa) -> zero-arg call.
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Impl:
    name: str
    family: str  # "peer" or "edgeasr"
    build: Callable[[object], object]
    bind: Callable[[object, np.ndarray, Optional[str]], Callable[[], object]]
    nbytes: Callable[[object, Shape], int]  # weight bytes one call reads
    tolerance: float  # relative error bound of the output
    prepare: Callable[[np.ndarray], object] = lambda w: w
    own_reference: bool = False  # compare with the copy's own dequantized weights instead of W
    isas: list = field(default_factory=lambda: [None])  # one table row each
    missing: Optional[str] = None  # why it cannot run here

    def row_name(self, isa: Optional[str]) -> str:
        return self.name if isa is None else f"edgeasr {isa} {self.name}"


def _float_bytes(_, s: Shape) -> int:
    return s.rows * s.cols * 4


def _int8_peer_bytes(_, s: Shape) -> int:
    # int8 values plus 4 bytes per output: the same per-row overhead our dense int8 carries (scale / column sum).
    return s.rows * s.cols + s.rows * 4


def numpy_impl() -> Impl:
    def bind(w, x, _isa):
        if x.shape[0] == 1:
            v = x[0]
            return lambda: w @ v
        return lambda: x @ w.T

    return Impl("numpy f32", "peer", build=np.copy, bind=bind, nbytes=_float_bytes, tolerance=1e-4)


def torch_f32_impl() -> Impl:
    if torch is None:
        return Impl("torch f32", "peer", None, None, _float_bytes, 0, missing="torch not installed")

    def bind(w, x, _isa):
        xt = torch.from_numpy(x)
        return lambda: torch.nn.functional.linear(xt, w)

    return Impl("torch f32", "peer", build=lambda w: torch.from_numpy(w.copy()), bind=bind,
                nbytes=_float_bytes, tolerance=1e-4)


def torch_int8_impl() -> Impl:
    name = "torch int8 dynamic (fbgemm)"
    if torch is None:
        return Impl(name, "peer", None, None, _int8_peer_bytes, 0, missing="torch not installed")

    def build(w):
        lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
        with warnings.catch_warnings():  # quantize_dynamic is deprecated in favour of torchao, still the reference
            warnings.simplefilter("ignore")
            q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear},
                                                       dtype=torch.qint8)[0]
        if type(q) is torch.nn.Linear:
            raise RuntimeError("torch quantize_dynamic left the Linear unquantized")
        return q

    def bind(q, x, _isa):
        xt = torch.from_numpy(x)
        return lambda: q(xt)

    return Impl(name, "peer", build=build, bind=bind, nbytes=_int8_peer_bytes, tolerance=0.05)


def ort_int8_impl() -> Impl:
    name = "ORT int8 dynamic"
    if ort is None:
        return Impl(name, "peer", None, None, _int8_peer_bytes, 0, missing="onnxruntime not installed")

    def bind(sess, x, _isa):
        # IO binding with a preallocated output keeps Python overhead out of ORT's time, as we do for ours.
        binding = sess.io_binding()
        binding.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(x))
        out = ort.OrtValue.ortvalue_from_numpy(np.empty((x.shape[0], sess.get_outputs()[0].shape[1]), np.float32))
        binding.bind_ortvalue_output("y", out)

        def call():
            sess.run_with_iobinding(binding)
            return out
        return call

    return Impl(name, "peer", prepare=_ort_quantized_model, build=_ort_session, bind=bind,
                nbytes=_int8_peer_bytes, tolerance=0.05)


def _ort_quantized_model(w: np.ndarray) -> bytes:
    """y = x @ Wᵀ as a float MatMul model, dynamically quantized to int8 weights; returns the model bytes."""
    rows, cols = w.shape
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("MatMul", ["x", "wt"], ["y"])], "matvec",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["m", cols])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["m", rows])],
        [onnx.numpy_helper.from_array(np.ascontiguousarray(w.T), "wt")])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        src, dst = Path(tmp, "f32.onnx"), Path(tmp, "int8.onnx")
        onnx.save(model, src)
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        return dst.read_bytes()


def _ort_session(model: bytes):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def _quiet():
    """Silence the quantizer's advice (logging, warnings and prints)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def our_impl(label: str, bits: int, sparsity: Optional[float], isas: list) -> Impl:
    def bind(qm, x, isa):
        if x.shape[0] == 1:
            v = x[0]
            return lambda: qm.matvec(v, isa=isa)
        return lambda: qm.matmul(x, isa=isa)

    return Impl(label, "edgeasr", build=lambda w: QuantizedMatrix.from_float(w, bits=bits, sparsity=sparsity),
                bind=bind, nbytes=lambda qm, _s: qm.nbytes, tolerance=0.05, own_reference=True, isas=isas)


def implementations(isas: list) -> list:
    impls = [numpy_impl(), torch_f32_impl(), torch_int8_impl(), ort_int8_impl()]
    return impls + [our_impl(label, bits, sp, isas) for label, bits, sp in OUR_FORMATS]


# ---------------------------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------------------------

def n_copies(one_copy_bytes: int, budget: int) -> int:
    return max(MIN_COPIES, min(MAX_COPIES, math.ceil(budget / one_copy_bytes)))


def rotation(copies: list, inputs: list, bind, isa) -> list:
    """Calls pairing copy k % C with input k % N, one per step of the joint cycle."""
    steps = math.lcm(len(copies), len(inputs))
    return [bind(copies[k % len(copies)], inputs[k % len(inputs)], isa) for k in range(steps)]


def time_calls(calls: list, st: Settings) -> np.ndarray:
    """Nanoseconds of single calls, rotating through `calls`, after a warm-up that touches every copy."""
    warm, deadline = [], time.perf_counter_ns() + 0.1 * st.target_s * 1e9
    while len(warm) < len(calls) or time.perf_counter_ns() < deadline:
        f = calls[len(warm) % len(calls)]
        t0 = time.perf_counter_ns()
        f()
        warm.append(time.perf_counter_ns() - t0)
    estimate = max(float(np.median(warm)), 1.0)
    reps = int(min(st.max_reps, max(st.min_reps, st.target_s * 1e9 / estimate)))
    times = []
    n = len(calls)
    gc.disable()  # a collection inside a timed call is not the kernel's cost
    try:
        for i in range(reps):
            f = calls[i % n]
            t0 = time.perf_counter_ns()
            f()
            times.append(time.perf_counter_ns() - t0)
    finally:
        gc.enable()
    return np.asarray(times, dtype=np.float64)


def to_numpy(y) -> np.ndarray:
    if hasattr(y, "numpy"):  # torch tensor or ORT OrtValue
        y = y.numpy()
    return np.asarray(y, dtype=np.float32)


def relative_error(calls: list, copies: list, inputs: list, impl: Impl, w: np.ndarray) -> float:
    """Worst relative error of the first and last call of the rotation against a float reference."""
    worst = 0.0
    for k in (0, len(calls) - 1):
        x = inputs[k % len(inputs)]
        ref_w = copies[k % len(copies)].to_float() if impl.own_reference else w
        ref = x.astype(np.float64) @ ref_w.T.astype(np.float64)
        y = to_numpy(calls[k]()).reshape(ref.shape)
        worst = max(worst, float(np.linalg.norm(y - ref) / np.linalg.norm(ref)))
    return worst


class Bandwidth:
    """Single-thread read bandwidth, memoized by buffer size (rounded, since nearby sizes behave alike)."""

    def __init__(self):
        self.cache = {}

    def at(self, nbytes: int) -> float:
        key = max(4096, int(float(f"{nbytes:.2g}")))
        if key not in self.cache:
            passes = int(min(200, max(5, 0.05 * 15e9 / key)))  # ~50 ms of reading at typical DRAM speed
            self.cache[key] = float(np.median(_core.measure_read_bandwidth(key, passes)))
        return self.cache[key]


def measure_shape(shape: Shape, impls: list, st: Settings, bw: Bandwidth, rng) -> list:
    w = rng.standard_normal((shape.rows, shape.cols), dtype=np.float32)
    inputs = [rng.standard_normal((shape.m, shape.cols), dtype=np.float32) for _ in range(N_INPUTS)]
    records = []
    for impl in impls:
        if impl.missing:
            records += [_missing_record(shape, impl, isa) for isa in impl.isas]
            continue
        prepared = impl.prepare(w)
        copies = [impl.build(prepared)]
        one = impl.nbytes(copies[0], shape)
        copies += [impl.build(prepared) for _ in range(n_copies(one, st.budget_bytes) - 1)]
        for isa in impl.isas:
            records.append(_measure_one(shape, impl, isa, w, copies, inputs, one, st, bw))
        del copies, prepared
        gc.collect()
    _add_ort_ratio(records)
    return records


def _measure_one(shape, impl, isa, w, copies, inputs, one, st, bw) -> dict:
    name = impl.row_name(isa)
    calls = rotation(copies, inputs, impl.bind, isa)
    err = relative_error(calls, copies, inputs, impl, w)
    if not err <= impl.tolerance:
        raise RuntimeError(f"{name} on {shape.label}: relative error {err:.3g} exceeds {impl.tolerance}; "
                           "a wrong kernel is not timed")
    ns = time_calls(calls, st)
    median = float(np.median(ns))
    working_set = one * len(copies)
    gbps = one / median  # bytes per ns == GB/s
    bw_ws = bw.at(working_set) / 1e9
    print(f"  {name:34s} {median / 1e3:10.1f} µs  {gbps:6.2f} GB/s", file=sys.stderr)
    return {
        "shape": shape.label, "rows": shape.rows, "cols": shape.cols, "m": shape.m,
        "impl": name, "family": impl.family, "isa": isa, "status": "ok",
        "copies": len(copies), "weight_bytes": one, "working_set_bytes": working_set, "reps": len(ns),
        "median_us": median / 1e3, "p10_us": float(np.percentile(ns, 10)) / 1e3,
        "p90_us": float(np.percentile(ns, 90)) / 1e3, "weight_gbps": gbps,
        "bandwidth_at_working_set_gbps": bw_ws, "fraction_of_bandwidth_at_working_set": gbps / bw_ws,
        "relative_error": err,
    }


def _missing_record(shape: Shape, impl: Impl, isa) -> dict:
    return {"shape": shape.label, "rows": shape.rows, "cols": shape.cols, "m": shape.m,
            "impl": impl.row_name(isa), "family": impl.family, "isa": isa, "status": impl.missing}


def _add_ort_ratio(records: list) -> None:
    ort_rows = [r for r in records if r["impl"].startswith("ORT") and r["status"] == "ok"]
    for r in records:
        if r["status"] == "ok" and ort_rows:
            r["x_ort_int8"] = ort_rows[0]["median_us"] / r["median_us"]


# ---------------------------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------------------------

def cache_levels() -> dict:
    """Per cache level: size of one instance and number of instances (distinct shared_cpu_list)."""
    instances = {}
    for index in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cache/index[0-9]*"):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text().strip())
            shared = (index / "shared_cpu_list").read_text().strip()
        except OSError:
            continue
        if kind != "Instruction":
            instances[(f"L{level}", shared)] = size
    levels = {}
    for (name, _), size in instances.items():
        entry = levels.setdefault(name, {"instance_bytes": size, "instances": 0, "total_bytes": 0})
        entry["instances"] += 1
        entry["total_bytes"] += size
    return levels


def _parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def thread_report() -> dict:
    report = {"env_at_start": _ENV_AT_START, "env_now": {k: os.environ.get(k) for k in _THREAD_VARS},
              "torch_threads": torch.get_num_threads() if torch else None}
    try:
        from threadpoolctl import threadpool_info
        report["threadpoolctl"] = threadpool_info()
    except ImportError:
        report["threadpoolctl"] = "not installed"
    return report


def numpy_blas() -> object:
    try:
        config = np.show_config(mode="dicts")
        return config.get("Build Dependencies", config)
    except TypeError:  # numpy < 1.26 has no mode argument
        return "unavailable"


def transparent_hugepage() -> str:
    """The bracketed THP mode: huge pages cut TLB misses, which changes streaming reads on some machines."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "unknown"
    return text[text.find("[") + 1:text.find("]")] if "[" in text else text.strip()


def machine_info(caches: dict) -> dict:
    return {"cpu": cpu_description(), "caches": caches, "versions": package_versions(("numpy", "torch", "onnx", "onnxruntime", "edgeasr")),
            "git": git_revision(),
            "transparent_hugepage": transparent_hugepage(),
            "edgeasr_isa": edgeasr.kernels.isa(), "edgeasr_supported_isas": edgeasr.kernels.supported_isas(),
            "threads": thread_report(), "numpy_blas": numpy_blas(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


# ---------------------------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------------------------

def markdown(report: dict) -> str:
    m, run = report["machine"], report["run"]
    caches = m["caches"]
    cache_text = ", ".join(f"{k} {_size_text(v['instance_bytes'])} × {v['instances']}"
                           for k, v in sorted(caches.items()))
    lines = [
        f"# edgeasr kernels vs peers, one thread{' (quick)' if run['quick'] else ''}",
        "",
        f"- Machine: {m['cpu']['model']}, {m['cpu']['logical_cpus']} logical CPUs, caches {cache_text}; "
        f"SIMD: {' '.join(m['cpu']['simd_flags']) or 'none listed'}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) +
        f"; edgeasr kernel sets here: {', '.join(m['edgeasr_supported_isas'])}; git {m['git'] or 'n/a'}; {m['date']}",
        f"- Reproduce: `{run['command']}`",
        f"- Timing: each call timed alone with perf_counter_ns after a warm-up; median (p10–p90) of ≥ "
        f"{run['min_reps']} calls, more until ~{run['target_s']} s per row.",
        f"- Working set: each implementation gets C separately built copies of its weights and {N_INPUTS} "
        f"activation inputs; call k uses copy k mod C and input k mod {N_INPUTS}. C = ⌈budget / weight bytes⌉ "
        f"within [{MIN_COPIES}, {MAX_COPIES}], budget {run['budget_bytes'] / MiB:g} MiB ({run['budget_source']}). "
        "The WS column gives C × weight MB. A working set beyond L2 can still sit in L3: compare GB/s with "
        "the read bandwidth at the same size (% BW@WS) and with DRAM (% DRAM).",
        f"- Read bandwidth (one thread, edgeasr._core.measure_read_bandwidth, median of passes): DRAM "
        f"{report['bandwidth']['dram_gbps']:.1f} GB/s over a {report['bandwidth']['dram_buffer_bytes'] / MiB:g} "
        "MiB buffer. The probe is a plain read loop, no ceiling for code that reads faster: rows above 100% "
        "did, e.g. numpy, whose large arrays ask for transparent huge pages (THP mode here: "
        f"{m['transparent_hugepage']}).",
        "- Weight bytes: QuantizedMatrix.nbytes for edgeasr (values, bitmaps, offsets, scales); rows×cols×4 for "
        "float32; rows×cols + 4×rows for int8 peers. Weights are Gaussian; sparse formats drop the smallest "
        "magnitudes, so zeros fall at random. × ORT int8 = ORT time / row time (higher is faster).",
    ]
    load = run["load_average"]
    if max(load["start"][0], load["end"][0]) > BUSY_LOAD:  # another process competed for the core
        lines.append(f"- **Warning:** the machine was busy (1-minute load average {load['start'][0]:.1f} at the "
                     f"start, {load['end'][0]:.1f} at the end, {m['cpu']['logical_cpus']} CPUs); times are noisy.")
    llc = max((v["total_bytes"] for v in caches.values()), default=0)
    if run["budget_bytes"] < llc:
        lines.append(f"- **Caveat:** the budget is smaller than the last-level cache ({_size_text(llc)}), so "
                     "working sets below that size may be served from it rather than DRAM; % BW@WS is the fair "
                     "ceiling for them. For DRAM-bound figures pass --working-set-mb above the cache size.")
    if not run["our_isas"]:
        lines.append("- **No edgeasr SIMD kernel set is built here** (supported: "
                     f"{', '.join(m['edgeasr_supported_isas'])}); edgeasr rows are missing (scalar only in --quick).")
    lines += ["", "## Summary: edgeasr speed relative to ONNX Runtime int8 (× ORT int8)", "", _summary(report)]
    for shape in run["shapes"]:
        rows = [r for r in report["measurements"] if r["shape"] == shape]
        lines += ["", f"## {shape}", "", _table(rows)]
    return "\n".join(lines) + "\n"


def _summary(report: dict) -> str:
    """One row per edgeasr format and kernel set, one column per shape: the figures the targets are about."""
    shapes = report["run"]["shapes"]
    ours = [r for r in report["measurements"] if r["family"] == "edgeasr" and r["status"] == "ok"]
    ratio = {(r["impl"], r["shape"]): r.get("x_ort_int8") for r in ours}
    out = ["| edgeasr | " + " | ".join(shapes) + " |", "|" + "---|" * (len(shapes) + 1)]
    for impl in dict.fromkeys(r["impl"] for r in ours):
        cells = [f"{ratio[(impl, s)]:.2f}" if ratio.get((impl, s)) is not None else "" for s in shapes]
        out.append(f"| {impl.removeprefix('edgeasr ')} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _size_text(nbytes: int) -> str:
    return f"{nbytes / MiB:g} MiB" if nbytes >= MiB else f"{nbytes >> 10} KiB"


def _table(rows: list) -> str:
    head = ("| implementation | median µs | p10–p90 µs | weight MB | WS MB (copies) | GB/s | % BW@WS | % DRAM "
            "| × ORT int8 |")
    out = [head, "|" + "---|" * 9]
    for r in rows:
        if r["status"] != "ok":
            out.append(f"| {r['impl']} | {r['status']} |  |  |  |  |  |  |  |")
            continue
        ratio = f"{r['x_ort_int8']:.2f}" if "x_ort_int8" in r else "n/a"
        out.append(
            f"| {r['impl']} | {r['median_us']:.1f} | {r['p10_us']:.1f}–{r['p90_us']:.1f} "
            f"| {r['weight_bytes'] / 1e6:.2f} | {r['working_set_bytes'] / 1e6:.1f} ({r['copies']}) "
            f"| {r['weight_gbps']:.2f} | {100 * r['fraction_of_bandwidth_at_working_set']:.0f}% "
            f"| {100 * r['fraction_of_dram_bandwidth']:.0f}% | {ratio} |")
    return "\n".join(out)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapes = report["run"]["shapes"]
    ok = [r for r in report["measurements"] if r["status"] == "ok"]
    names = list(dict.fromkeys(r["impl"] for r in ok))
    colors = _bar_colors(ok, plt)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 9), sharex=True)
    width = 0.88 / max(1, len(names))
    for i, name in enumerate(names):
        by_shape = {r["shape"]: r for r in ok if r["impl"] == name}
        present = [j for j, s in enumerate(shapes) if s in by_shape]
        xs = [j + (i - (len(names) - 1) / 2) * width for j in present]
        first = by_shape[shapes[present[0]]]
        style = {"width": width, "color": colors[name], "label": name, "edgecolor": "white", "linewidth": 0.3,
                 "hatch": "///" if first["family"] == "peer" else None}
        ratios = [by_shape[shapes[j]].get("x_ort_int8", np.nan) for j in present]
        top.bar(xs, ratios, **style)
        bottom.bar(xs, [by_shape[shapes[j]]["weight_gbps"] for j in present], **style)
        # Each bar's ceiling: a plain read of a buffer as large as that row's working set.
        bottom.hlines([by_shape[shapes[j]]["bandwidth_at_working_set_gbps"] for j in present],
                      [x - width / 2 for x in xs], [x + width / 2 for x in xs], color="black", linewidth=1.5,
                      label="read bandwidth, buffer of\nthe row's working-set size" if i == 0 else None)
    if any("x_ort_int8" in r for r in ok):
        top.axhline(1.0, color="black", linewidth=0.8)
        top.set_yscale("log")
        top.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
    else:
        top.text(0.5, 0.5, "ONNX Runtime not available: no ratios", transform=top.transAxes, ha="center")
        top.set_yticks([])
    top.set_ylabel("speed relative to ORT int8\n(log scale, higher is faster)")
    bottom.axhline(report["bandwidth"]["dram_gbps"], color="red", linestyle="--", linewidth=1.2,
                   label="read bandwidth, DRAM")
    bottom.set_ylabel("weight bytes read per second (GB/s)")
    bottom.set_xticks(range(len(shapes)), shapes)
    run = report["run"]
    fig.suptitle(f"One thread on {report['machine']['cpu']['model']}: weights of each implementation rotated over "
                 f"≥ {run['budget_bytes'] / MiB:g} MiB ({run['budget_source']})")
    for ax in (top, bottom):
        ax.grid(axis="y", alpha=0.3)
    handles, labels = bottom.get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.80, 0.5), fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.79, top=0.94, bottom=0.06, hspace=0.08)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _bar_colors(records: list, plt) -> dict:
    """Peers in greys; each edgeasr format its own hue, darker for faster ISA tiers."""
    names = list(dict.fromkeys(r["impl"] for r in records))
    peers = [n for n in names if any(r["impl"] == n and r["family"] == "peer" for r in records)]
    colors = {n: plt.get_cmap("Greys")(0.35 + 0.5 * i / max(1, len(peers) - 1)) for i, n in enumerate(peers)}
    maps = ["Greens", "Purples", "Oranges", "Blues", "Reds"]
    formats = [label for label, _, _ in OUR_FORMATS]
    isas = list(dict.fromkeys(r["isa"] for r in records if r["isa"]))
    for r in records:
        if r["family"] == "edgeasr" and r["impl"] not in colors:
            fmt = formats.index(r["impl"].split(" ", 2)[2])
            tier = isas.index(r["isa"])
            colors[r["impl"]] = plt.get_cmap(maps[fmt % len(maps)])(0.35 + 0.55 * (tier + 1) / len(isas))
    return colors


# ---------------------------------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="small shapes and few repetitions (well under a minute); writes kernels-quick.*")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="directory for the results")
    p.add_argument("--name", help="file stem of the results (default kernels, or kernels-quick with --quick), e.g. "
                   "kernels-epyc for another machine's run")
    p.add_argument("--working-set-mb", type=float,
                   help="weight bytes each implementation rotates through (default: 2× the total L2 cache)")
    p.add_argument("--isas", help="comma-separated edgeasr kernel sets to time "
                   "(default: every supported one but scalar; --quick adds scalar on the smallest shape)")
    return p.parse_args(argv)


def dram_bandwidth(shapes: list, budget_bytes: int, caches: dict) -> tuple:
    """(buffer bytes, bytes/s per pass) of a buffer that dwarfs every rotated working set and the last cache."""
    largest = max(n_copies(s.rows * s.cols * 4, budget_bytes) * s.rows * s.cols * 4 for s in shapes)  # float32
    llc = max((v["total_bytes"] for v in caches.values()), default=0)
    buffer = max(512 * MiB, 4 * largest, 2 * llc)
    print(f"read bandwidth over {buffer / MiB:.0f} MiB ...", file=sys.stderr)
    return buffer, _core.measure_read_bandwidth(buffer, 5)


def budget(args, caches: dict) -> tuple:
    if args.working_set_mb:
        return int(args.working_set_mb * MiB), "--working-set-mb"
    l2 = caches.get("L2", {}).get("total_bytes")
    if not l2:
        return 16 * MiB, "default 16 MiB: L2 size unknown"
    return 2 * l2, f"2 × total L2 of {l2 / MiB:g} MiB"


def main(argv=None) -> int:
    args = parse_args(argv)
    start, load_at_start = time.perf_counter(), os.getloadavg()
    if torch is not None:
        torch.set_num_threads(1)
        with contextlib.suppress(RuntimeError):  # only settable before torch's first parallel work
            torch.set_num_interop_threads(1)
        torch.backends.quantized.engine = "fbgemm"
    caches = cache_levels()
    budget_bytes, budget_source = budget(args, caches)
    st = Settings(budget_bytes=budget_bytes, target_s=0.05 if args.quick else 0.3,
                  min_reps=10 if args.quick else 20)
    shapes = QUICK_SHAPES if args.quick else FULL_SHAPES
    supported = edgeasr.kernels.supported_isas()
    isas = args.isas.split(",") if args.isas else [i for i in supported if i != "scalar"]
    for isa in isas:
        if isa not in supported:
            raise SystemExit(f"--isas: {isa!r} is not supported here ({supported})")

    dram_buffer, dram = dram_bandwidth(shapes, budget_bytes, caches)
    dram_gbps = float(np.median(dram)) / 1e9
    bw, rng, records = Bandwidth(), np.random.default_rng(0), []
    context = torch.inference_mode() if torch is not None else contextlib.nullcontext()
    with context:
        for k, shape in enumerate(shapes):
            with_scalar = args.quick and k == 0 and "scalar" in supported and "scalar" not in isas
            print(f"{shape.label}", file=sys.stderr)
            records += measure_shape(shape, implementations(["scalar"] * with_scalar + isas), st, bw, rng)
    for r in records:
        if r["status"] == "ok":
            r["fraction_of_dram_bandwidth"] = r["weight_gbps"] / dram_gbps

    report = {
        "machine": machine_info(caches),
        "run": {"quick": args.quick, "command": "python " + shlex.join([os.path.relpath(sys.argv[0], REPO)]
                                                                          + sys.argv[1:]),
                "shapes": [s.label for s in shapes], "our_isas": isas, "budget_bytes": budget_bytes,
                "budget_source": budget_source, "target_s": st.target_s, "min_reps": st.min_reps,
                "inputs_rotated": N_INPUTS, "ort_quantization": "quantize_dynamic(weight_type=QInt8), per tensor"},
        "bandwidth": {"dram_buffer_bytes": dram_buffer, "dram_passes_gbps": [v / 1e9 for v in dram],
                      "dram_gbps": dram_gbps,
                      "by_buffer_bytes_gbps": {str(k): v / 1e9 for k, v in sorted(bw.cache.items())}},
        "measurements": records,
    }
    report["run"]["seconds"] = round(time.perf_counter() - start, 1)
    report["run"]["load_average"] = {"start": load_at_start, "end": os.getloadavg()}
    write_outputs(report, args.out, args.name or ("kernels-quick" if args.quick else "kernels"))
    print(f"done in {report['run']['seconds']} s", file=sys.stderr)
    return 0


def write_outputs(report: dict, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    table = markdown(report)
    (out / f"{stem}.md").write_text(table)
    plot(report, out / f"{stem}.png")
    print(table)
    print(f"wrote {out / stem}.{{json,md,png}}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
