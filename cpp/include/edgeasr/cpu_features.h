// What the running CPU (and OS) can execute.
#pragma once

namespace edgeasr {

struct CpuFeatures {
  bool avx2 = false;    // AVX2 + FMA + POPCNT, with OS support for YMM state
  bool avx512 = false;  // AVX-512 F/BW/VL + VNNI + VBMI2 (byte expand), with OS support for ZMM state
  bool amx = false;     // avx512 + AMX-TILE + AMX-INT8, with the OS's permission to use tile data
  bool neon = false;    // AArch64 Advanced SIMD
};

const CpuFeatures& DetectCpuFeatures();

}  // namespace edgeasr
