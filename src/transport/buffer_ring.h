// What the dmabuf and shm transports share: a ring of buffers, each known to
// the compositor as a wl_buffer that is attached by id and given back by
// wl_buffer.release. They differ only in the memory (a GBM buffer or a
// memfd) and in how the compositor is told about it.
#pragma once

#include <memory>
#include <vector>

#include "transport/transport.h"

namespace zc::transport {

class BufferRingTransport : public Transport {
 public:
  ~BufferRingTransport() override;

  Result<void> allocate_ring(wl_surface* surface, const ModifierChoice& choose) override;
  Result<void> reallocate_ring(uint32_t format, const ModifierChoice& choose) override;
  Slot* acquire() override;
  Result<void> submit(Slot& slot, uint64_t frame) override;
  const buffer::Allocator& allocator() const override { return *allocator_; }
  const buffer::Buffer* first_buffer() const override {
    return slots_.empty() ? nullptr : slots_.front()->buffer.get();
  }

 protected:
  BufferRingTransport(const Connection& conn, const RingConfig& config, std::unique_ptr<buffer::Allocator> allocator)
      : conn_(conn), cfg_(config), allocator_(std::move(allocator)) {}

  // The modifiers to allocate with (empty: none, the implicit layout).
  virtual Result<std::vector<uint64_t>> ring_modifiers(const ModifierChoice& choose) = 0;
  // Tells the compositor about one buffer: its wl_buffer.
  virtual wl_buffer* make_wl_buffer(const buffer::Buffer& b) = 0;
  // What wl_surface.attach of this transport's buffers costs (trace text).
  virtual const char* attach_story() const = 0;

  wl_surface* surface() const { return surface_; }

  Connection conn_;
  RingConfig cfg_;

 private:
  std::unique_ptr<buffer::Allocator> allocator_;
  std::vector<std::unique_ptr<Slot>> slots_;
  wl_surface* surface_ = nullptr;
};

}  // namespace zc::transport
