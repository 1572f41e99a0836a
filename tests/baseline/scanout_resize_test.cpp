// Compositor scanout buffers across a change of frame size.
//
// A wl_shm frame is copied into a buffer the compositor owns (its scanout
// planner hands out leases on those buffers). When a client changes its
// buffer size, the buffers of the old size become useless and are freed,
// while the one on screen must stay untouched until the display lets go of
// it. An old bug kept integer slot indexes across that freeing: the index
// then named another buffer, a later frame was copied into the buffer on
// screen (tearing on a real display), and the old buffer stayed busy forever.
//
// The headless output with --verify acts as a display CRC: it checksums each
// buffer when it goes on screen and again when it leaves, and counts
// `shown_buffer_rewritten` when they differ.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include "scenario.h"

namespace zcb {
namespace {

uint64_t rss_bytes(pid_t pid) { return proc_status_bytes(pid, "VmRSS"); }

struct Size {
  uint32_t w, h;
};

// One wl_buffer per size, all in one pool on a memfd the test writes into.
class ShmFrames {
 public:
  ShmFrames(RawClient& c, const std::vector<Size>& sizes) {
    size_t bytes = 0;
    for (const Size& s : sizes) bytes += size_t{s.w} * 4 * s.h;
    fd_ = ::memfd_create("zcpipe-test-resize", MFD_CLOEXEC);
    if (fd_ < 0 || ::ftruncate(fd_, static_cast<off_t>(bytes)) != 0)
      throw std::runtime_error(std::string("memfd: ") + std::strerror(errno));
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) throw std::runtime_error(std::string("mmap: ") + std::strerror(errno));
    map_ = static_cast<uint8_t*>(p);
    len_ = bytes;
    wl_shm_pool* pool = wl_shm_create_pool(c.shm(), fd_, static_cast<int32_t>(bytes));
    size_t off = 0;
    for (const Size& s : sizes) {
      wl_buffer* b = wl_shm_pool_create_buffer(pool, static_cast<int32_t>(off), static_cast<int32_t>(s.w),
                                               static_cast<int32_t>(s.h), static_cast<int32_t>(s.w * 4),
                                               WL_SHM_FORMAT_XRGB8888);
      c.own(b);
      buffers_.push_back({b, map_ + off, s});
      off += size_t{s.w} * 4 * s.h;
    }
    wl_shm_pool_destroy(pool);
  }
  ~ShmFrames() {
    if (map_ != nullptr) ::munmap(map_, len_);
    if (fd_ >= 0) ::close(fd_);
  }
  ShmFrames(const ShmFrames&) = delete;
  ShmFrames& operator=(const ShmFrames&) = delete;

  // Fills buffer i with a value unique to frame n (so every frame's checksum
  // differs) and returns it.
  wl_buffer* draw(size_t i, uint32_t n) {
    Entry& e = buffers_[i];
    const uint32_t v = 0x00400000u | (n * 0x010203u & 0x3fffffu);
    auto* px = reinterpret_cast<uint32_t*>(e.pixels);
    std::fill(px, px + size_t{e.size.w} * e.size.h, v);
    return e.buffer;
  }

 private:
  struct Entry {
    wl_buffer* buffer;
    uint8_t* pixels;
    Size size;
  };
  int fd_ = -1;
  uint8_t* map_ = nullptr;
  size_t len_ = 0;
  std::vector<Entry> buffers_;
};

TEST(ScanoutPlanner, SizeChangesNeverWriteTheBufferOnScreen) {
  Scenario sc(/*refresh=*/0, /*ready_fd=*/true, {"--verify"});
  const std::vector<Size> sizes = {{640, 480}, {320, 240}, {160, 120}};
  // Three frames per size (the second and third of a size are where the
  // old slot bookkeeping went wrong), and the cycle twice.
  constexpr int kPerSize = 3, kCycles = 2;
  const int frames = kPerSize * static_cast<int>(sizes.size()) * kCycles;
  {
    RawClient c(sc.socket_path());
    c.make_window();
    ShmFrames shm(c, sizes);
    for (int n = 0; n < frames; ++n) {
      const size_t i = static_cast<size_t>(n / kPerSize) % sizes.size();
      c.request_feedback();
      wl_surface_attach(c.surface(), shm.draw(i, static_cast<uint32_t>(n)), 0, 0);
      wl_surface_damage_buffer(c.surface(), 0, 0, INT32_MAX, INT32_MAX);
      c.commit();
      const uint32_t want = static_cast<uint32_t>(n) + 1;
      ASSERT_TRUE(c.dispatch_until([&] { return c.presented() + c.discarded() >= want; }, 10s))
          << "frame " << n << ": no presentation feedback: " << RawClient::describe(c.error());
    }
    EXPECT_EQ(c.presented(), static_cast<uint32_t>(frames));
    EXPECT_EQ(c.discarded(), 0u);
  }
  const json s = sc.stop();
  EXPECT_EQ(s["counters"]["presented"], frames);
  EXPECT_EQ(s["counters"]["discarded"], 0);
  ASSERT_TRUE(s["output_counters"].contains("shown_buffer_rewritten")) << s["output_counters"].dump();
  EXPECT_EQ(s["output_counters"]["shown_buffer_rewritten"], 0)
      << "a frame was copied into the buffer the display was showing";
  // Bounded: per run of one size, one buffer on screen and one being
  // filled; buffers of an old size are freed, not kept busy forever.
  const json& sp = s["scanout"];
  const int runs = static_cast<int>(sizes.size()) * kCycles;
  EXPECT_LE(sp["allocations"].get<int>(), 2 * runs) << sp.dump();
  EXPECT_EQ(sp["refused_busy"], 0) << sp.dump();
  EXPECT_LE(sp["peak_bytes"].get<uint64_t>(), 2 * uint64_t{640} * 480 * 4 + uint64_t{320} * 240 * 4) << sp.dump();
}

// A client that sent big frames leaves: the compositor gives the scanout
// buffers it made for them back (they used to stay as idle spares).
TEST(ScanoutPlanner, ABigClientsBuffersAreGivenBackWhenItLeaves) {
  Scenario sc(/*refresh=*/0);
  constexpr uint32_t kBig = 4096;
  constexpr uint64_t kBigFrame = uint64_t{kBig} * kBig * 4;  // 64 MiB
  const uint64_t rss_before = rss_bytes(sc.comp().pid());
  {
    zct::SpawnOptions o = zct::client_options(
        sc.comp(), {"--transport", "shm", "--frames", "3", "--size", std::to_string(kBig) + "x" + std::to_string(kBig)},
        sc.rt() / "big.json");
    zct::Process big(o);
    const Exit e = big.wait_or_kill(60s);
    ASSERT_TRUE(e.ok()) << e.describe();
    EXPECT_EQ(zct::read_json(sc.rt() / "big.json")["frames_presented"], 3);
  }
  ASSERT_EQ(sc.settle_sockets(), sc.sockets_at_start()) << "the big client's disconnect was not noticed";
  const uint64_t rss_after = rss_bytes(sc.comp().pid());
  // Its frames needed two 64 MiB buffers; less than one may stay resident
  // (allocator slack, libwayland's buffers).
  EXPECT_LT(rss_after, rss_before + kBigFrame / 2)
      << "RSS " << rss_before / 1048576 << " MiB before the big client, " << rss_after / 1048576 << " MiB after it left";

  const json s = sc.stop();
  const json& sp = s["scanout"];
  EXPECT_GE(sp["peak_bytes"].get<uint64_t>(), kBigFrame) << sp.dump();
  EXPECT_EQ(sp["buffers"], 0) << "idle scanout buffers stayed allocated after every client left: " << sp.dump();
  EXPECT_EQ(sp["bytes"], 0) << sp.dump();
  EXPECT_EQ(sp["allocations"], sp["frees"]) << sp.dump();
}

// A frame over the per-buffer cap (8192x8192 x 4 bytes = 256 MiB > the
// 7680x4320 x 4 limit) is dropped with a counted reason, nothing is
// allocated for it, and the compositor keeps serving.
TEST(ScanoutPlanner, AFrameOverTheCapIsDroppedAndCounted) {
  Scenario sc(/*refresh=*/0);
  {
    RawClient c(sc.socket_path());
    c.make_window();
    ShmFrames shm(c, {{8192, 8192}});
    c.request_feedback();
    wl_surface_attach(c.surface(), shm.draw(0, 1), 0, 0);
    c.commit();
    ASSERT_TRUE(c.dispatch_until([&] { return c.presented() + c.discarded() >= 1; }, 20s))
        << RawClient::describe(c.error());
    EXPECT_EQ(c.discarded(), 1u);
    EXPECT_EQ(c.presented(), 0u);
    EXPECT_TRUE(c.roundtrip()) << "dropping a frame is not a protocol error: " << RawClient::describe(c.error());
  }
  sc.run_good_client("good-shm", "shm", 20);
  const json s = sc.stop();
  const json& sp = s["scanout"];
  EXPECT_EQ(sp["refused_too_large"], 1) << sp.dump();
  EXPECT_EQ(sp["max_buffer_bytes"], uint64_t{7680} * 4320 * 4);
  EXPECT_LE(sp["peak_bytes"].get<uint64_t>(), 3 * kFrameBytes) << "only the good client's buffers were allocated";
  EXPECT_EQ(s["counters"]["discarded"], 1);
  EXPECT_EQ(s["counters"]["presented"], 20);
}

}  // namespace
}  // namespace zcb
