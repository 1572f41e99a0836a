// A property check for fuzz harnesses that stays on in every build type.
//
// libFuzzer reports a finding when the process crashes or aborts, so a
// violated property must abort: assert() would vanish under NDEBUG (release
// builds), and a silent `return` would let the fuzzer walk past the bug.
// FUZZ_CHECK prints which property broke, with the values involved, then
// calls abort(); libFuzzer saves the input as crash-<sha1> for replay.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, ...)                                                   \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: property violated: %s\n  ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                        \
      std::fprintf(stderr, "\n");                                               \
      std::abort();                                                             \
    }                                                                           \
  } while (0)
