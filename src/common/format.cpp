#include "common/format.h"

#include <drm_fourcc.h>
#include <fmt/core.h>

#include <array>

namespace zc {
namespace {
constexpr std::array kFormats = {
    FormatInfo{DRM_FORMAT_XRGB8888, "XRGB8888", 4, 1, false},
    FormatInfo{DRM_FORMAT_ARGB8888, "ARGB8888", 4, 1, true},
    FormatInfo{DRM_FORMAT_XBGR8888, "XBGR8888", 4, 1, false},
    FormatInfo{DRM_FORMAT_ABGR8888, "ABGR8888", 4, 1, true},
    // 24-bit packed: the classic articles' "4K frame at 24 bits" (23.7 MiB).
    FormatInfo{DRM_FORMAT_RGB888, "RGB888", 3, 1, false},
};
}  // namespace

const FormatInfo* format_info(uint32_t fourcc) {
  for (const auto& f : kFormats)
    if (f.fourcc == fourcc) return &f;
  return nullptr;
}

std::optional<uint32_t> format_from_name(std::string_view name) {
  for (const auto& f : kFormats)
    if (name == f.name) return f.fourcc;
  return std::nullopt;
}

std::string format_name(uint32_t fourcc) {
  if (const FormatInfo* f = format_info(fourcc)) return f->name;
  std::string chars;
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>((fourcc >> (8 * i)) & 0xff);
    chars += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return fmt::format("'{}' (0x{:08x})", chars, fourcc);
}

std::string modifier_name(uint64_t modifier) {
  if (modifier == DRM_FORMAT_MOD_LINEAR) return "LINEAR";
  if (modifier == DRM_FORMAT_MOD_INVALID) return "INVALID";
  return fmt::format("0x{:016x}", modifier);
}

}  // namespace zc
