// The one-copy transport (wl_shm): the same ring as dmabuf, in shared memory
// (memfds). The fd crosses once per buffer, as with dmabuf, but no display
// engine can read a memfd, so the compositor copies every frame into a
// buffer the display can show.
#include <drm_fourcc.h>
#include <wayland-client.h>

#include "transport/buffer_ring.h"
#include "transport/internal.h"

namespace zc::transport {
namespace {

class ShmTransport final : public BufferRingTransport {
 public:
  ShmTransport(const Connection& conn, const RingConfig& config, std::unique_ptr<buffer::Allocator> allocator,
               wl_shm* shm)
      : BufferRingTransport(conn, config, std::move(allocator)), shm_(shm) {}
  ~ShmTransport() override { wl_shm_destroy(shm_); }

  Kind kind() const override { return Kind::shm; }

 protected:
  // Plain memory has one layout: rows one after another.
  Result<std::vector<uint64_t>> ring_modifiers(const ModifierChoice&) override { return std::vector<uint64_t>{}; }

  wl_buffer* make_wl_buffer(const buffer::Buffer& b) override {
    const buffer::Dmabuf& d = b.desc();
    const auto size = static_cast<int32_t>(d.plane0_extent());
    wl_shm_pool* pool = wl_shm_create_pool(shm_, d.planes[0].fd.get(), size);
    // wl_shm names ARGB8888/XRGB8888 0 and 1; every other format is its DRM fourcc.
    uint32_t shm_format = d.format;
    if (d.format == DRM_FORMAT_ARGB8888) shm_format = WL_SHM_FORMAT_ARGB8888;
    if (d.format == DRM_FORMAT_XRGB8888) shm_format = WL_SHM_FORMAT_XRGB8888;
    wl_buffer* wl = wl_shm_pool_create_buffer(pool, static_cast<int32_t>(d.planes[0].offset),
                                              static_cast<int32_t>(d.width), static_cast<int32_t>(d.height),
                                              static_cast<int32_t>(d.planes[0].stride), shm_format);
    wl_shm_pool_destroy(pool);  // the buffer keeps the pool's mapping alive
    return wl;
  }

  const char* attach_story() const override {
    return "wl_surface.attach of the wl_shm buffer: an object id; the pool's fd crossed once";
  }

 private:
  wl_shm* shm_;
};

}  // namespace

Result<std::unique_ptr<Transport>> create_shm_transport(const Connection& conn, const RingConfig& config) {
  auto it = conn.globals->find(wl_shm_interface.name);
  if (it == conn.globals->end()) return Error{ENOTSUP, "compositor does not offer wl_shm"};
  // shm frames live in plain memory: that is what this path is.
  auto alloc = buffer::create_memfd_allocator();
  if (!alloc) return alloc.error();
  auto* shm = static_cast<wl_shm*>(wl_registry_bind(conn.registry, it->second.name, &wl_shm_interface, 1));
  return std::unique_ptr<Transport>(std::make_unique<ShmTransport>(conn, config, std::move(alloc.value()), shm));
}

}  // namespace zc::transport
