// What the native test binaries share: pass/fail counts, the one flag they take, and the last line they print.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

namespace edgeasr {

struct Counts {
  size_t passed = 0, failed = 0;

  // Counts one check; prints a line for a failure. Returns ok.
  bool Check(bool ok, const std::string& what) {
    if (ok) {
      ++passed;
    } else {
      ++failed;
      std::printf("FAIL %s\n", what.c_str());
    }
    return ok;
  }

  // Prints "N passed, M failed" and returns the process exit status.
  int Report() const {
    std::printf("%zu passed, %zu failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
  }
};

// Parses the arguments every test binary takes: [--quick]. Returns false after printing the usage otherwise.
inline bool ParseTestArgs(int argc, char** argv, bool* quick) {
  *quick = false;
  for (int a = 1; a < argc; ++a) {
    if (std::strcmp(argv[a], "--quick") != 0) {
      std::fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
      return false;
    }
    *quick = true;
  }
  return true;
}

}  // namespace edgeasr
