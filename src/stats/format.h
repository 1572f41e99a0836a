// How zcpipe's tables write a figure, in one place so every table (the demo's
// summary, its side-by-side comparison, the HTML report) writes it the same
// way: counts and byte counts with digits grouped by three (33,177,600),
// fractions below 100 with one decimal, and ratios to a baseline that say "n/a" instead
// of "x inf" when the baseline is 0. Header-only (fmt only), so the report
// can use it without linking the ledger.
#pragma once

#include <fmt/core.h>

#include <cmath>
#include <string>

namespace zc::stats {

inline std::string format_count(double v) {
  if (!std::isfinite(v)) return "n/a";
  // Below 100 a fraction keeps one decimal; above, whole units are plenty.
  if (v != std::floor(v) && std::fabs(v) < 100) return fmt::format("{:.1f}", v);
  std::string digits = fmt::format("{:.0f}", std::fabs(std::round(v)));
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return v < 0 ? "-" + digits : digits;
}

// "(x1.5)" against a baseline; "(n/a: 0 in dmabuf)" when the baseline is 0
// and v is not, "(same: 0)" when both are.
inline std::string format_ratio(double v, double base, const std::string& base_name) {
  if (base == 0) return v == 0 ? "(same: 0)" : "(n/a: 0 in " + base_name + ")";
  return "(x" + format_count(std::round(v / base * 10.0) / 10.0) + ")";
}

}  // namespace zc::stats
