// EDGEASR_ALWAYS_INLINE: a helper that target clones (target_clones("avx512f", "avx2", "default")) call is inlined
// into each clone, and so compiled for that clone's instruction set. Left out of line, a helper (a template such as
// SumOfExp or MaxOf) is compiled once for the baseline x86-64, and every clone calls that SSE2 copy.
#pragma once

#if defined(__GNUC__)
#define EDGEASR_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define EDGEASR_ALWAYS_INLINE inline
#endif
