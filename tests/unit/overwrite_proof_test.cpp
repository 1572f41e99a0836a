// The overwrite experiment's pure parts: the marker a client writes into a
// shown frame (buffer/overwrite_marker.h), and the demo's verdict from the
// two processes' numbers (demo::overwrite_proof).
#include <drm_fourcc.h>
#include <gtest/gtest.h>

#include <vector>

#include "buffer/overwrite_marker.h"
#include "demo/pipeline.h"

namespace zc {
namespace {

using nlohmann::json;

TEST(OverwriteMarker, WrittenMarkerReadsBackWithItsFrame) {
  const uint32_t w = 64, h = 8, stride = 64 * 4 + 32;  // padded rows
  std::vector<uint8_t> px(size_t{stride} * h, 0x55);
  ASSERT_TRUE(buffer::write_marker({px.data(), w, h, stride, DRM_FORMAT_XRGB8888}, 0x1122334455ull));
  const auto m = buffer::read_marker({px.data(), w, h, stride, DRM_FORMAT_XRGB8888});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(*m, 0x1122334455ull);
  // In the last row only: the rows above (the frame-number header among them) are untouched.
  for (size_t i = 0; i < size_t{stride} * (h - 1); ++i) ASSERT_EQ(px[i], 0x55) << i;
}

TEST(OverwriteMarker, NoMarkerInAPlainFrame) {
  std::vector<uint8_t> px(64 * 4 * 8, 0);
  EXPECT_FALSE(buffer::read_marker({px.data(), 64, 8, 64 * 4, DRM_FORMAT_XRGB8888}).has_value());
}

TEST(OverwriteMarker, FramesTooNarrowForTheMarkerAreRefused) {
  // 5 pixels of 3 bytes: 15 visible bytes per row, one short.
  EXPECT_FALSE(buffer::marker_fits(5, 4, DRM_FORMAT_RGB888));
  EXPECT_TRUE(buffer::marker_fits(6, 4, DRM_FORMAT_RGB888));
  EXPECT_FALSE(buffer::marker_fits(64, 0, DRM_FORMAT_XRGB8888));
  EXPECT_FALSE(buffer::marker_fits(64, 4, 0x20202020));  // an unknown format
  std::vector<uint8_t> px(16 * 4, 0);
  EXPECT_FALSE(buffer::write_marker({px.data(), 5, 4, 16, DRM_FORMAT_RGB888}, 1));
  EXPECT_EQ(px, std::vector<uint8_t>(16 * 4, 0)) << "nothing written";
}

json client_marked(uint64_t n) { return {{"overwrite_proof", {{"frames_marked", n}, {"skipped", nullptr}}}}; }
json headless(uint64_t frames, uint64_t seen) {
  return {{"output", "headless"},
          {"output_counters", {{"overwrite_proof_frames", frames}, {"overwrite_proof_marker_seen_frames", seen}}}};
}

TEST(OverwriteProofVerdict, DmabufNeedsTheMarkerOnEveryFrame) {
  EXPECT_EQ(demo::overwrite_proof("dmabuf", 0, client_marked(20), headless(19, 19))["as_expected"], true);
  const json one_missed = demo::overwrite_proof("dmabuf", 0, client_marked(20), headless(19, 18));
  EXPECT_EQ(one_missed["expected"], "seen");
  EXPECT_EQ(one_missed["as_expected"], false);
}

TEST(OverwriteProofVerdict, CopyingTransportsMustNeverShowIt) {
  for (const char* t : {"shm", "socket"}) {
    EXPECT_EQ(demo::overwrite_proof(t, 0, client_marked(20), headless(19, 0))["as_expected"], true) << t;
    const json leaked = demo::overwrite_proof(t, 0, client_marked(20), headless(19, 1));
    EXPECT_EQ(leaked["expected"], "not seen");
    EXPECT_EQ(leaked["as_expected"], false) << t << ": one marker seen means the display read client memory";
  }
}

TEST(OverwriteProofVerdict, AKmsFallbackCopyPredictsNotSeen) {
  EXPECT_EQ(demo::overwrite_proof("dmabuf", 3, client_marked(20), headless(19, 0))["expected"], "not seen");
}

TEST(OverwriteProofVerdict, NothingLookedAtOrNothingMarkedIsNoProof) {
  EXPECT_EQ(demo::overwrite_proof("shm", 0, client_marked(20), headless(0, 0))["as_expected"], false);
  EXPECT_EQ(demo::overwrite_proof("shm", 0, client_marked(0), headless(19, 0))["as_expected"], false);
}

TEST(OverwriteProofVerdict, AnOutputWithoutAWitnessSaysSo) {
  const json p = demo::overwrite_proof("dmabuf", 0, client_marked(20), json{{"output", "kms"}, {"output_counters", json::object()}});
  EXPECT_TRUE(p["witness"].is_null());
  EXPECT_TRUE(p["as_expected"].is_null());
}

}  // namespace
}  // namespace zc
