// Validation of zwp_linux_buffer_params_v1: everything a client can get wrong
// when it describes a dma-buf, checked before the compositor touches the fds.
// Pure logic (no Wayland objects), so every case is unit-tested.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "buffer/dmabuf.h"

namespace zc::server {

struct ParamsPlane {
  UniqueFd fd;
  uint32_t offset = 0;
  uint32_t stride = 0;
  uint64_t modifier = 0;
  bool set = false;
};

struct ParamsState {
  std::array<ParamsPlane, buffer::kMaxPlanes> planes{};
  bool used = false;  // create/create_immed already called
};

struct ParamsError {
  enum class Kind {
    protocol,  // a client bug: post the protocol error `code`
    import,    // well-formed but unusable: `failed` event (create) or invalid_wl_buffer (create_immed)
  };
  Kind kind;
  uint32_t code;        // zwp_linux_buffer_params_v1 error code
  std::string message;  // names the offending value
};

// Which (format, modifier) pairs the compositor accepts.
using FormatSupported = std::function<bool(uint32_t format, uint64_t modifier)>;
// Size of the object behind an fd, or -1 if unknown (default: lseek SEEK_END).
using buffer::FdSize;

std::optional<ParamsError> check_add(const ParamsState& s, uint32_t plane_idx, uint64_t modifier);

// On success returns nullopt and fills `out` (moving the fds out of `s`).
std::optional<ParamsError> check_create(ParamsState& s, int32_t width, int32_t height,
                                        uint32_t format, uint32_t flags,
                                        const FormatSupported& supported, buffer::Dmabuf& out,
                                        const FdSize& fd_size = buffer::fd_size);

}  // namespace zc::server
