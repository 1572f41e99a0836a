// --verify on the KMS output reads a client's dma-buf through its driver
// (output/read_back.h): a GPU's buffer may be tiled or compressed, or (virgl)
// live in memory only the host's GPU writes, so its bytes through a CPU
// mapping are not its rows, or not its latest frame. GBM cannot run on the
// fake libdrm, so a fake driver stands in behind the DriverReader seam: it
// hands back, like gbm_bo_map, a linear copy of what "the GPU drew", with a
// stride of its own, and counts its imports, live images, maps and unmaps.
#include <drm_fourcc.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vector>

#include "buffer/pattern.h"
#include "fake_drm.h"
#include "output/read_back.h"
#include "output_harness.h"
#include "test_buffer.h"
#include "tiled_buffer.h"

namespace zc::test {
namespace {

using output::VerifyRead;

struct DriverLog {
  int imports = 0, alive = 0, maps = 0, unmaps = 0;
  bool fail_import = false, fail_map = false;
  // What the GPU drew into each buffer (by Buffer::serial): the frame the
  // driver's linear view shows. Memory the CPU mapping never sees.
  std::map<uint64_t, uint64_t> drawn;
};

class FakeImage final : public output::DriverImage {
 public:
  FakeImage(DriverLog& log, uint64_t serial, uint32_t w, uint32_t h) : log_(log), serial_(serial), w_(w), h_(h) {
    log_.alive++;
  }
  ~FakeImage() override { log_.alive--; }
  Result<buffer::ConstPixelView> map() override {
    log_.maps++;
    if (log_.fail_map) return Error{EINVAL, "fake map"};
    // The driver's stride, not the buffer's (a detiling blit's staging buffer).
    const uint32_t stride = w_ * 4 + 128;
    px_.assign(static_cast<size_t>(stride) * h_, 0);
    buffer::render_pattern({px_.data(), w_, h_, stride, DRM_FORMAT_XRGB8888}, log_.drawn.at(serial_));
    return buffer::ConstPixelView{px_.data(), w_, h_, stride, DRM_FORMAT_XRGB8888};
  }
  void unmap() override { log_.unmaps++; }

 private:
  DriverLog& log_;
  uint64_t serial_;
  uint32_t w_, h_;
  std::vector<uint8_t> px_;
};

class FakeReader final : public output::DriverReader {
 public:
  explicit FakeReader(DriverLog& log) : log_(log) {}
  Result<std::unique_ptr<output::DriverImage>> import(const buffer::Buffer& b) override {
    log_.imports++;
    if (log_.fail_import) return Error{EINVAL, "fake import"};
    return std::unique_ptr<output::DriverImage>(std::make_unique<FakeImage>(log_, b.serial(), b.width(), b.height()));
  }

 private:
  DriverLog& log_;
};

auto with_driver(DriverLog& log) {
  return [&log](output::KmsConfig& c) {
    c.verify_reader = [&log]() -> std::unique_ptr<output::DriverReader> { return std::make_unique<FakeReader>(log); };
  };
}
auto without_driver() {
  return [](output::KmsConfig& c) { c.verify_reader = [] { return std::unique_ptr<output::DriverReader>(); }; };
}

// A tiled buffer whose memory the CPU sees as zeros (the memfd behind
// tiled_buffer()): only the driver can say which frame it holds.
TEST(KmsVerifyRead, ATiledClientBufferIsReadThroughItsDriverImportedOncePerBuffer) {
  DriverLog log;
  {
    Harness h(true, /*verify=*/true, intel_plane, with_driver(log));
    ASSERT_TRUE(h.out) << h.error;
    auto a = tiled_buffer(kXTiled, 1), b = tiled_buffer(kXTiled, 1);
    // Frames 1, 2, 3 in buffers a, b, a (a ring of two).
    for (const auto& [buf, n] : {std::pair{a.get(), 1u}, std::pair{b.get(), 2u}, std::pair{a.get(), 3u}}) {
      log.drawn[buf->serial()] = n;  // the GPU drew frame n into it
      h.out->present(buf == a.get() ? a : b, n, true);
      h.flip();
      const output::Presented& p = h.presented.at(n);
      ASSERT_TRUE(p.direct);
      EXPECT_EQ(p.verify_read, VerifyRead::gbm_map) << "frame " << n;
      ASSERT_TRUE(p.decoded_frame) << "frame " << n;
      EXPECT_EQ(*p.decoded_frame, n);
      ASSERT_TRUE(p.checksum);
      EXPECT_EQ(*p.checksum, buffer::pattern_checksum(64, 48, DRM_FORMAT_XRGB8888, n));
    }
    EXPECT_EQ(log.imports, 2) << "imported once per buffer, not per frame";
    EXPECT_EQ(log.alive, 2);
    // Per verified frame: the look when shown (3) and the last look as a
    // frame leaves the screen (frames 1 and 2): each map unmapped.
    EXPECT_EQ(log.maps, 5);
    EXPECT_EQ(log.unmaps, log.maps);
    EXPECT_EQ(h.counter("shown_buffer_rewritten"), 0u) << "the last look read the same frame through the driver";
    // b leaves the screen (replaced by a) and its wl_buffer goes: its
    // imported image goes with its framebuffer.
    b.reset();
    log.drawn[a->serial()] = 4;
    h.out->present(a, 4, true);
    h.flip();
    EXPECT_EQ(log.alive, 1) << "b's image freed with its cache entry";
  }
  EXPECT_EQ(log.alive, 0) << "every image freed with the output";
}

TEST(KmsVerifyRead, WithoutADriverATiledBufferIsNeverReadAsLinear) {
  Harness h(true, /*verify=*/true, intel_plane, without_driver());
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(tiled_buffer(kXTiled, 1), 1, true);
  h.flip();
  const output::Presented& p = h.presented.at(1);
  EXPECT_TRUE(p.direct);
  EXPECT_EQ(p.verify_read, VerifyRead::none);
  EXPECT_FALSE(p.checksum) << "a checksum of tiled memory read in memory order would mean nothing";
  EXPECT_FALSE(p.decoded_frame);
  // A LINEAR buffer the CPU drew: its own mapping reads it.
  h.out->present(make_buffer(64, 48, 2), 2, true);
  h.flip();
  EXPECT_EQ(h.presented.at(2).verify_read, VerifyRead::mmap);
  ASSERT_TRUE(h.presented.at(2).decoded_frame);
  EXPECT_EQ(*h.presented.at(2).decoded_frame, 2u);
}

TEST(KmsVerifyRead, WhenTheDriverCannotTheLinearBufferIsReadByMmap) {
  for (const bool fail_import : {true, false}) {
    SCOPED_TRACE(fail_import ? "import fails" : "map fails");
    DriverLog log;
    (fail_import ? log.fail_import : log.fail_map) = true;
    Harness h(true, /*verify=*/true, {}, with_driver(log));
    ASSERT_TRUE(h.out) << h.error;
    auto a = make_buffer(64, 48, 7);
    log.drawn[a->serial()] = 7;
    h.out->present(a, 1, true);
    h.flip();
    h.out->present(a, 2, true);
    h.flip();
    const output::Presented& p = h.presented.at(1);
    EXPECT_EQ(p.verify_read, VerifyRead::mmap);
    ASSERT_TRUE(p.decoded_frame);
    EXPECT_EQ(*p.decoded_frame, 7u);
    EXPECT_EQ(log.imports, 1) << "a failed import is not tried again";
    EXPECT_EQ(log.unmaps, 0) << "nothing mapped, nothing unmapped";
  }
}

// The output's own copy (a dumb buffer its CPU wrote) is read by mmap: no
// driver import for it, nor for the client buffer it was copied from.
TEST(KmsVerifyRead, ACopiedFrameIsReadByMmapWithoutAnImport) {
  DriverLog log;
  Harness h(true, /*verify=*/true, {}, with_driver(log));
  ASSERT_TRUE(h.out) << h.error;
  h.fake->reject_test_only = EINVAL;
  h.out->present(make_buffer(64, 48, 5), 1, true);
  h.flip();
  const output::Presented& p = h.presented.at(1);
  EXPECT_FALSE(p.direct);
  EXPECT_EQ(p.verify_read, VerifyRead::mmap);
  ASSERT_TRUE(p.decoded_frame);
  EXPECT_EQ(*p.decoded_frame, 5u);
  EXPECT_EQ(log.imports, 0);
}

}  // namespace
}  // namespace zc::test
