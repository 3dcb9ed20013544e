#include "edgeasr/cpu_features.h"

#if EDGEASR_X86
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace edgeasr {

const CpuFeatures& DetectCpuFeatures() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
#if EDGEASR_X86
    // libgcc's checks include the OS's XSAVE state (XCR0), not only CPUID bits.
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("popcnt");
    f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
               __builtin_cpu_supports("avx512vbmi2");
    // Linux hands out AMX tile state only to processes that ask for it (arch_prctl ARCH_REQ_XCOMP_PERM).
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    f.amx = f.avx512 && __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-int8") &&
            syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#endif
#if EDGEASR_ARM64
    f.neon = true;  // mandatory in AArch64
#endif
    return f;
  }();
  return features;
}

}  // namespace edgeasr
