// Geometry of a wl_shm buffer, checked against the pool it lives in.
//
// A wl_shm buffer is a window into a pool the client shared with us:
// `offset` bytes into the pool, `height` rows of `stride` bytes, of which
// the first width × bytes-per-pixel hold pixels. Reading it touches bytes
// offset .. offset + (height - 1) × stride + width × bpp. libwayland 1.21
// checks stride only against the width in *pixels*, so a buffer whose rows
// are wider than its stride would make the compositor read past the pool:
// other memory of the compositor on screen (an information leak), or a
// crash. Everything a reader relies on is checked here, before any access.
//
// Pure arithmetic, no Wayland objects: unit-tested and fuzzed
// (tools/fuzz) against exactly this signature.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace zc::server {

struct ShmGeometryError {
  uint32_t code;        // the wl_shm error to post (WL_SHM_ERROR_*)
  std::string message;  // names the values received
};

// nullopt when a `width`×`height` buffer of `wl_shm_format` (a wl_shm format
// code, not a DRM fourcc for the two formats where they differ) with rows of
// `stride` bytes, starting `offset` bytes into a pool of `pool_size` bytes,
// lies wholly inside the pool and has rows at least width × bpp long.
std::optional<ShmGeometryError> check_shm_geometry(int32_t width, int32_t height, int32_t stride,
                                                   uint32_t wl_shm_format, int32_t offset, size_t pool_size);

}  // namespace zc::server
