# Cross-compiling for 64-bit ARM Linux with Debian's GNU toolchain (g++-aarch64-linux-gnu). Binaries run on an
# AArch64 machine, or here under qemu-user (scripts/test_neon.sh).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(EDGEASR_CROSS_PREFIX aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${EDGEASR_CROSS_PREFIX}-gcc)
set(CMAKE_CXX_COMPILER ${EDGEASR_CROSS_PREFIX}-g++)

# Libraries and headers come from the target's sysroot only; build tools from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${EDGEASR_CROSS_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Lets CTest or add_custom_command run target binaries on this host.
find_program(EDGEASR_QEMU_AARCH64 qemu-aarch64)
if(EDGEASR_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${EDGEASR_QEMU_AARCH64} -L /usr/${EDGEASR_CROSS_PREFIX})
endif()
