// CLOCK_MONOTONIC everywhere: it is the clock wp_presentation announces, so
// client commit times and presentation timestamps are directly comparable.
// clock_gettime is served by the vDSO: reading the time is not a syscall.
#pragma once

#include <time.h>

#include <cstdint>

namespace zc {

inline uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace zc
