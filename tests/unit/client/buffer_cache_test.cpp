// client::PerBuffer: per-buffer renderer state is keyed by the buffer's
// serial, so a buffer allocated where a freed one lived never finds the old
// one's state (an EGLImage of freed memory), and forget_all() frees each
// entry once.
#include <drm_fourcc.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "buffer/buffer.h"
#include "client/buffer_cache.h"

namespace zc::client {
namespace {

std::unique_ptr<buffer::Buffer> make() {
  buffer::Dmabuf d;
  d.width = 4;
  d.height = 4;
  d.format = DRM_FORMAT_XRGB8888;
  d.num_planes = 1;
  return std::make_unique<buffer::Buffer>(std::move(d), buffer::Kind::shared_memory);
}

TEST(PerBuffer, ANewBufferAtAFreedOnesAddressIsANewEntry) {
  std::multiset<int> freed;
  PerBuffer<int> cache([&](int& v) { freed.insert(v); });
  std::set<uint64_t> serials;
  int reused_addresses = 0;
  const buffer::Buffer* last = nullptr;
  for (int i = 0; i < 50; ++i) {
    auto b = make();  // often at the address the previous one had
    if (b.get() == last) reused_addresses++;
    last = b.get();
    EXPECT_EQ(cache.find(*b), nullptr) << "buffer " << i << " finds nothing of a freed buffer's";
    cache.add(*b, i);
    EXPECT_EQ(*cache.find(*b), i);
    EXPECT_TRUE(serials.insert(b->serial()).second) << "serials are never reused";
  }
#ifndef __SANITIZE_ADDRESS__
  // (AddressSanitizer quarantines freed memory so that use-after-free is
  // caught: there, no address comes back and this premise cannot be shown.)
  EXPECT_GT(reused_addresses, 0) << "the allocator reused an address (what makes address keys wrong)";
#endif
  EXPECT_EQ(cache.size(), 50u);
  cache.forget_all();  // the ring is reallocated
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(freed.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(freed.count(i), 1u) << "freed once";
}

}  // namespace
}  // namespace zc::client
