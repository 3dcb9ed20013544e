// Chooses a kernel set at run time from the CPU's features, or from EDGEASR_ISA for testing.
#include <cstdlib>
#include <stdexcept>

#include "edgeasr/cpu_features.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {
// Slowest first: SupportedIsas() lists them in this order, and the last supported one is the default.
constexpr Isa kAllIsas[] = {Isa::kScalar, Isa::kNeon, Isa::kAvx2, Isa::kAvx512, Isa::kAmx};
}  // namespace

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kNeon: return "neon";
    case Isa::kAmx: return "amx";
  }
  return "unknown";
}

Isa ParseIsa(const std::string& name) {
  for (Isa isa : kAllIsas)
    if (name == IsaName(isa)) return isa;
  throw std::invalid_argument("isa: unknown instruction set '" + name +
                              "' (expected scalar, avx2, avx512, amx or neon)");
}

namespace {

KernelSet BuildSet(Isa isa) {
  // AMX adds tile kernels on top of the AVX-512 set it requires.
  KernelSet set = isa == Isa::kAmx ? BuildSet(Isa::kAvx512) : KernelSet{isa, {}, {}};
  set.isa = isa;
#define EDGEASR_KERNEL(name, kisa, format, op) \
  if (ParseIsa(#kisa) == isa) set.op[static_cast<int>(Format::format)] = &name##__##kisa;
#include "edgeasr/kernels.inc"
#undef EDGEASR_KERNEL
  return set;
}

bool Compiled(const KernelSet& set) {
  for (int f = 0; f < 4; ++f)
    if (!set.gemv[f] || !set.gemm[f]) return false;
  return true;
}

bool CpuRuns(Isa isa) {
  const CpuFeatures& f = DetectCpuFeatures();
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return f.avx2;
    case Isa::kAvx512: return f.avx512;
    case Isa::kNeon: return f.neon;
    case Isa::kAmx: return f.amx;
  }
  return false;
}

struct Registry {
  KernelSet sets[kIsaCount];
  Registry() {
    for (Isa isa : kAllIsas) sets[static_cast<int>(isa)] = BuildSet(isa);
  }
};

const Registry& GetRegistry() {
  static const Registry registry;
  return registry;
}

}  // namespace

std::vector<Isa> SupportedIsas() {
  std::vector<Isa> out;
  for (Isa isa : kAllIsas)
    if (CpuRuns(isa) && Compiled(GetRegistry().sets[static_cast<int>(isa)])) out.push_back(isa);
  return out;
}

const KernelSet& KernelsFor(Isa isa) {
  const KernelSet& set = GetRegistry().sets[static_cast<int>(isa)];
  if (!Compiled(set))
    throw std::invalid_argument(std::string("isa: this build has no ") + IsaName(isa) + " kernels");
  if (!CpuRuns(isa)) throw std::invalid_argument(std::string("isa: this CPU cannot run ") + IsaName(isa) + " kernels");
  return set;
}

const KernelSet& ActiveKernels() {
  static const KernelSet* active = [] {
    const char* env = std::getenv("EDGEASR_ISA");
    if (env && *env) return &KernelsFor(ParseIsa(env));
    return &KernelsFor(SupportedIsas().back());
  }();
  return *active;
}

}  // namespace edgeasr
