// DRM pixel formats (fourcc codes from drm_fourcc.h) that zcpipe understands.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zc {

struct FormatInfo {
  uint32_t fourcc;
  const char* name;       // "XRGB8888"
  uint32_t bytes_per_pixel;
  uint32_t planes;        // all formats here are single-plane packed RGB
  bool has_alpha;
};

// nullptr for formats zcpipe does not handle.
const FormatInfo* format_info(uint32_t fourcc);
std::optional<uint32_t> format_from_name(std::string_view name);  // "XRGB8888", "RGB888"
// "XRGB8888" for known formats, otherwise the four characters and hex: "'NV12' (0x3231564e)".
std::string format_name(uint32_t fourcc);
// "LINEAR", "INVALID" (implicit), or vendor + hex value.
std::string modifier_name(uint64_t modifier);

}  // namespace zc
