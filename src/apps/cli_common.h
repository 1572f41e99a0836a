// Small pieces shared by the zcpipe command-line programs.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "common/format.h"

namespace zc::apps {

// "3840x2160" -> (3840, 2160); throws CLI::ValidationError on bad input.
inline void parse_size(const std::string& s, uint32_t& w, uint32_t& h) {
  unsigned long a = 0, b = 0;
  char x = 0, extra = 0;
  if (std::sscanf(s.c_str(), "%lu%c%lu%c", &a, &x, &b, &extra) != 3 || (x != 'x' && x != 'X') || a == 0 ||
      b == 0 || a > 16384 || b > 16384)
    throw CLI::ValidationError("--size", "expected WIDTHxHEIGHT (1..16384 each), got '" + s + "'");
  w = static_cast<uint32_t>(a);
  h = static_cast<uint32_t>(b);
}

inline uint32_t parse_format(const std::string& s) {
  auto f = format_from_name(s);
  if (!f) throw CLI::ValidationError("--format", "unknown format '" + s + "' (XRGB8888, ARGB8888, XBGR8888, ABGR8888, RGB888)");
  return *f;
}

}  // namespace zc::apps
