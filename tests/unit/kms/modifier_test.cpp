// Tiled and compressed buffers, as Intel and AMD hardware wants them, on the
// fake device: a plane whose IN_FORMATS lists tiled and compressed
// modifiers; a client buffer in such a layout — a compressed one in two
// planes (pixels + compression metadata) — goes on the plane through
// AddFB2WithModifiers with every plane's handle; one whose modifier the plane
// lacks is refused for direct scanout, with its reason. And the buffer side:
// the Dmabuf validator takes metadata planes only with such a modifier, and
// a GBM buffer object's planes become one fd each, exported once per handle.
#include <drm_fourcc.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <map>
#include <memory>
#include <vector>

#include "buffer/buffer.h"
#include "buffer/dmabuf.h"
#include "fake_drm.h"
#include "output_harness.h"
#include "tiled_buffer.h"

namespace zc::test {
namespace {

std::vector<std::string> reason_names(const output::Presented& p) {
  std::vector<std::string> out;
  for (const char* n : p.reasons.names()) out.emplace_back(n);
  return out;
}

TEST(KmsModifiers, TheScanoutFormatsListTiledAndCompressedLayouts) {
  Harness h(true, false, intel_plane);
  ASSERT_TRUE(h.out) << h.error;
  const auto f = h.out->scanout_formats();
  auto has = [&f](uint64_t mod) {
    return std::find(f.begin(), f.end(), std::pair<uint32_t, uint64_t>(DRM_FORMAT_XRGB8888, mod)) != f.end();
  };
  EXPECT_TRUE(has(kXTiled));
  EXPECT_TRUE(has(kYTiledCcs));
  EXPECT_FALSE(has(kYfTiledCcs));
}

TEST(KmsModifiers, ATiledBufferGoesOnThePlaneWithItsModifier) {
  Harness h(true, false, intel_plane);
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(tiled_buffer(kXTiled, 1), 1, true);
  h.flip();
  ASSERT_EQ(h.presented.count(1), 1u);
  EXPECT_TRUE(h.presented[1].direct);
  EXPECT_TRUE(h.presented[1].zero_copy);
  EXPECT_EQ(h.fake->addfb_with_modifiers, 1);
  const uint32_t fb = static_cast<uint32_t>(h.fake->commits.back().value(FakeDrm::kPrimary, FakeDrm::kFbId));
  EXPECT_EQ(h.fake->fbs.at(fb).modifiers[0], kXTiled);
}

TEST(KmsModifiers, ACompressedTwoPlaneBufferGoesOnThePlaneWithBothPlanes) {
  Harness h(true, false, intel_plane);
  ASSERT_TRUE(h.out) << h.error;
  auto b = tiled_buffer(kYTiledCcs, 2);
  ASSERT_FALSE(b->desc().validate()) << "2 planes are right for XRGB8888 with CCS";
  h.out->present(b, 1, true);
  h.flip();
  ASSERT_EQ(h.presented.count(1), 1u);
  EXPECT_TRUE(h.presented[1].direct) << ::testing::PrintToString(reason_names(h.presented[1]));
  EXPECT_EQ(h.fake->addfb_with_modifiers, 1);
  const uint32_t fb = static_cast<uint32_t>(h.fake->commits.back().value(FakeDrm::kPrimary, FakeDrm::kFbId));
  const auto& made = h.fake->fbs.at(fb);
  EXPECT_EQ(made.planes, 2u) << "AddFB2WithModifiers got the metadata plane's handle too";
  EXPECT_EQ(made.modifiers[0], kYTiledCcs);
  EXPECT_EQ(made.modifiers[1], kYTiledCcs);
  EXPECT_EQ(h.fake->open_handles(), 0u) << "the shared handle closed once";
  EXPECT_EQ(h.fake->bad_handle_closes, 0);
}

// Neither scanned out (modifier_not_on_plane) nor copied (the CPU cannot
// read a compressed layout: modifier_not_linear, kms_output.cpp): refused.
TEST(KmsModifiers, ACompressedBufferThePlaneLacksIsRefusedNotImported) {
  Harness h(true, false, intel_plane);
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(tiled_buffer(kYfTiledCcs, 2), 1, true);
  for (const auto& [id, fb] : h.fake->fbs) EXPECT_NE(fb.modifiers[0], kYfTiledCcs) << "never imported for the plane";
  h.flip();
  EXPECT_EQ(h.events, (std::vector<std::string>{"discarded 1"}));
  EXPECT_EQ(h.counter("kms_frames_refused"), 1u);
  EXPECT_TRUE(h.copies.empty());
  EXPECT_TRUE(h.fake->commits.empty());
}

// ------------------------------------------------------------ Dmabuf
TEST(DmabufModifiers, MetadataPlanesOnlyWithATiledOrCompressedModifier) {
  auto ccs = tiled_buffer(kYTiledCcs, 2);
  EXPECT_FALSE(ccs->desc().validate());
  // The same two planes described as LINEAR: one plane too many.
  buffer::Dmabuf lin;
  lin.width = 64;
  lin.height = 48;
  lin.format = DRM_FORMAT_XRGB8888;
  lin.modifier = DRM_FORMAT_MOD_LINEAR;
  lin.num_planes = 2;
  lin.planes[0] = buffer::Plane{ccs->desc().planes[0].fd.dup_cloexec(), 0, 512};
  lin.planes[1] = buffer::Plane{ccs->desc().planes[0].fd.dup_cloexec(), 512 * 48, 128};
  auto bad = lin.validate();
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->fault, buffer::DmabufFault::plane_count);
  // A metadata plane starting past the buffer's end.
  lin.modifier = kYTiledCcs;
  EXPECT_FALSE(lin.validate());
  lin.planes[1].offset = 512 * 48 + 4096;
  bad = lin.validate();
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->fault, buffer::DmabufFault::bounds);
  EXPECT_EQ(bad->plane, 1u);
  // Without planes of the format's own, a modifier does not help.
  lin.num_planes = 0;
  EXPECT_EQ(lin.validate()->fault, buffer::DmabufFault::plane_count);
}

TEST(DmabufModifiers, EachPlaneGetsAnFdExportedOncePerHandle) {
  int exports = 0;
  std::map<uint32_t, ino_t> exported;  // handle -> the file made for it
  auto export_handle = [&](uint32_t handle) -> Result<UniqueFd> {
    exports++;
    UniqueFd fd{::memfd_create("bo", MFD_CLOEXEC)};
    struct stat st {};
    ::fstat(fd.get(), &st);
    exported[handle] = st.st_ino;
    return fd;
  };
  auto ino = [](const buffer::Plane& p) {
    struct stat st {};
    ::fstat(p.fd.get(), &st);
    return st.st_ino;
  };
  // CCS in one object: two planes, one handle, one export.
  buffer::Dmabuf d;
  const std::array<buffer::PlaneSource, 2> one_object = {{{7, 0, 512}, {7, 24576, 128}}};
  ASSERT_TRUE(buffer::set_planes(d, one_object, export_handle));
  EXPECT_EQ(d.num_planes, 2u);
  EXPECT_EQ(exports, 1);
  EXPECT_NE(d.planes[0].fd.get(), d.planes[1].fd.get()) << "each plane owns its own descriptor";
  EXPECT_EQ(ino(d.planes[1]), exported[7]);
  EXPECT_EQ(d.planes[1].offset, 24576u);
  EXPECT_EQ(d.planes[1].stride, 128u);
  // Planes in two objects: two exports.
  const std::array<buffer::PlaneSource, 2> two_objects = {{{7, 0, 512}, {8, 0, 128}}};
  ASSERT_TRUE(buffer::set_planes(d, two_objects, export_handle));
  EXPECT_EQ(exports, 3);
  EXPECT_EQ(ino(d.planes[1]), exported[8]);
  // A failed export leaves no half-described buffer.
  auto failing = [&](uint32_t handle) -> Result<UniqueFd> {
    if (handle == 8) return Error{EACCES, "drmPrimeHandleToFD"};
    return export_handle(handle);
  };
  EXPECT_FALSE(buffer::set_planes(d, two_objects, failing));
  EXPECT_EQ(d.num_planes, 0u);
  EXPECT_FALSE(d.planes[0].fd);
}

}  // namespace
}  // namespace zc::test
