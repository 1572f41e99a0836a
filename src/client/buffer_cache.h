// client::PerBuffer<T>: state a renderer keeps for each buffer of the ring
// (the GL renderer: an EGLImage, a renderbuffer and a framebuffer object).
//
// Why not a map keyed by the Buffer's address: when the ring is reallocated
// (another size, or the other modifiers per-surface feedback asked for), the
// new buffers are often allocated at the addresses the old ones had. A
// renderer that found its old EGLImage under such an address would draw
// into the freed buffer's memory (the image keeps it alive) and the
// compositor would be shown a buffer nobody draws into. So the key is the
// buffer's serial, a number no other Buffer of this process ever gets; and
// whoever reallocates the ring first calls forget_all(), so the old images
// are destroyed instead of piling up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "buffer/buffer.h"

namespace zc::client {

template <typename T>
class PerBuffer {
 public:
  // `destroy` frees what a T holds (called for each, once).
  explicit PerBuffer(std::function<void(T&)> destroy) : destroy_(std::move(destroy)) {}
  ~PerBuffer() { forget_all(); }
  PerBuffer(const PerBuffer&) = delete;
  PerBuffer& operator=(const PerBuffer&) = delete;

  T* find(const buffer::Buffer& b) {
    auto it = items_.find(b.serial());
    return it != items_.end() ? &it->second : nullptr;
  }
  T& add(const buffer::Buffer& b, T value) { return items_.insert_or_assign(b.serial(), std::move(value)).first->second; }
  void forget_all() {
    for (auto& [serial, item] : items_) destroy_(item);
    items_.clear();
  }
  size_t size() const { return items_.size(); }

 private:
  std::function<void(T&)> destroy_;
  std::map<uint64_t, T> items_;  // by Buffer::serial()
};

}  // namespace zc::client
