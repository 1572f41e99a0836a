#include "server/dmabuf_params.h"

#include <fmt/core.h>

#include "common/format.h"
#include "linux-dmabuf-unstable-v1-server-protocol.h"

namespace zc::server {
namespace {
ParamsError protocol(uint32_t code, std::string msg) {
  return ParamsError{ParamsError::Kind::protocol, code, std::move(msg)};
}

// "interlaced, bottom_first, 0x8" for the bits of a flags value.
std::string flag_names(uint32_t flags) {
  std::string out;
  auto add = [&out](const std::string& n) { out += (out.empty() ? "" : ", ") + n; };
  if (flags & ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_Y_INVERT) add("y_invert");
  if (flags & ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_INTERLACED) add("interlaced");
  if (flags & ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_BOTTOM_FIRST) add("bottom_first");
  if (const uint32_t rest = flags & ~7u; rest != 0) add(fmt::format("unknown bits 0x{:x}", rest));
  return out;
}
}  // namespace

std::optional<ParamsError> check_add(const ParamsState& s, uint32_t plane_idx, uint64_t modifier) {
  if (s.used)
    return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED, "params already used to create a wl_buffer");
  if (plane_idx >= buffer::kMaxPlanes)
    return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_IDX,
                    fmt::format("plane index {} out of bounds (max {})", plane_idx, buffer::kMaxPlanes - 1));
  if (s.planes[plane_idx].set)
    return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_SET, fmt::format("plane {} already set", plane_idx));
  // Since version 3 every plane must carry the same modifier.
  for (uint32_t i = 0; i < buffer::kMaxPlanes; ++i) {
    if (s.planes[i].set && s.planes[i].modifier != modifier)
      return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT,
                      fmt::format("plane {} modifier {} differs from plane {} modifier {}", plane_idx,
                                  modifier_name(modifier), i, modifier_name(s.planes[i].modifier)));
  }
  return std::nullopt;
}

std::optional<ParamsError> check_create(ParamsState& s, int32_t width, int32_t height, uint32_t format,
                                        uint32_t flags, const FormatSupported& supported,
                                        buffer::Dmabuf& out, const FdSize& fd_size) {
  if (s.used)
    return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED, "params already used to create a wl_buffer");
  s.used = true;

  // Planes must be 0..n-1 with no gaps, n matching the format.
  uint32_t count = 0;
  while (count < buffer::kMaxPlanes && s.planes[count].set) ++count;
  for (uint32_t i = count; i < buffer::kMaxPlanes; ++i)
    if (s.planes[i].set)
      return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE,
                      fmt::format("plane {} set but plane {} missing", i, count));
  if (count == 0) return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE, "no planes added");

  // Which (format, modifier) pairs are accepted is this compositor's
  // policy; whether the description is sound is the Dmabuf's one validator.
  const uint64_t modifier = s.planes[0].modifier;
  if (format_info(format) == nullptr || !supported(format, modifier))
    return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT,
                    fmt::format("format {} with modifier {} is not supported", format_name(format),
                                modifier_name(modifier)));

  // The fds move into `out` to be validated; on any failure they go back,
  // so the params object keeps (and later closes) them.
  out = buffer::Dmabuf{};
  out.width = static_cast<uint32_t>(width);
  out.height = static_cast<uint32_t>(height);
  out.format = format;
  out.modifier = modifier;
  out.num_planes = count;
  out.y_invert = (flags & ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_Y_INVERT) != 0;
  for (uint32_t i = 0; i < count; ++i) {
    out.planes[i].fd = std::move(s.planes[i].fd);
    out.planes[i].offset = s.planes[i].offset;
    out.planes[i].stride = s.planes[i].stride;
  }
  auto give_back = [&] {
    for (uint32_t i = 0; i < count; ++i) s.planes[i].fd = std::move(out.planes[i].fd);
  };

  if (auto bad = out.validate(fd_size)) {
    give_back();
    switch (bad->fault) {
      case buffer::DmabufFault::format:
        return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT, bad->message);
      case buffer::DmabufFault::plane_count:
      case buffer::DmabufFault::no_fd:
        return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE, bad->message);
      case buffer::DmabufFault::dimensions:
        // Named as the client sent them: signed 32-bit values.
        return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_DIMENSIONS,
                        fmt::format("invalid size {}x{} (1..{} each)", width, height, buffer::kMaxDimension));
      case buffer::DmabufFault::stride:
      case buffer::DmabufFault::bounds:
        return protocol(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS, bad->message);
    }
  }

  // Y_INVERT (rows stored bottom-up, as OpenGL renders them) is accepted:
  // the output shows such a buffer right way up (a KMS plane cannot, so it
  // is copied with its rows reversed). Interlaced fields are another matter:
  // a well-formed request this compositor cannot honour, i.e. an import
  // failure, as is any bit the protocol does not define.
  if (const uint32_t unsupported = flags & ~uint32_t{ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_Y_INVERT}; unsupported != 0) {
    give_back();
    return ParamsError{ParamsError::Kind::import, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_WL_BUFFER,
                       fmt::format("flags 0x{:x} are not supported ({}): only y_invert (0x1) is", flags,
                                   flag_names(unsupported))};
  }

  return std::nullopt;
}

}  // namespace zc::server
