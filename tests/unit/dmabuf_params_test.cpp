// zwp_linux_buffer_params_v1 validation (server/dmabuf_params.h): every way a
// client can describe a dma-buf wrongly, checked with the exact protocol error
// code and a message that names the offending value.
#include <drm_fourcc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "linux-dmabuf-unstable-v1-server-protocol.h"
#include "server/dmabuf_params.h"

namespace zc::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kLinear = DRM_FORMAT_MOD_LINEAR;
// A vendor modifier the "display" below does not accept.
constexpr uint64_t kXTiled = I915_FORMAT_MOD_X_TILED;  // 0x0100000000000001

// What the tests' compositor supports: the four 32-bit RGB formats, linear only.
bool linear_rgb32(uint32_t format, uint64_t modifier) {
  return modifier == kLinear && (format == DRM_FORMAT_XRGB8888 || format == DRM_FORMAT_ARGB8888 ||
                                 format == DRM_FORMAT_XBGR8888 || format == DRM_FORMAT_ABGR8888);
}
// Any known-format layout: used where the test is about something else.
bool anything(uint32_t, uint64_t) { return true; }

// Pretends every fd is backed by `size` bytes (no allocation for 4 GiB cases).
FdSize fixed_size(int64_t size) {
  return [size](int) { return size; };
}

UniqueFd make_memfd(size_t size) {
  UniqueFd fd{::memfd_create("dmabuf-params-test", MFD_CLOEXEC)};
  EXPECT_TRUE(fd) << "memfd_create";
  if (fd) {
    EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  }
  return fd;
}

// Adds a plane the way params_add does after check_add accepted it.
void add_plane(ParamsState& s, uint32_t idx, UniqueFd fd, uint32_t offset, uint32_t stride,
               uint64_t modifier = kLinear) {
  ASSERT_FALSE(check_add(s, idx, modifier).has_value()) << "plane " << idx << " should be accepted";
  ParamsPlane& p = s.planes[idx];
  p.fd = std::move(fd);
  p.offset = offset;
  p.stride = stride;
  p.modifier = modifier;
  p.set = true;
}

// A complete, valid 64x64 XRGB8888 description on a 16 KiB memfd.
ParamsState valid_state() {
  ParamsState s;
  add_plane(s, 0, make_memfd(64 * 64 * 4), 0, 64 * 4);
  return s;
}

void expect_protocol(const std::optional<ParamsError>& err, uint32_t code) {
  ASSERT_TRUE(err.has_value()) << "expected protocol error " << code;
  EXPECT_EQ(err->kind, ParamsError::Kind::protocol) << err->message;
  EXPECT_EQ(err->code, code) << err->message;
}

std::optional<ParamsError> create(ParamsState& s, int32_t w, int32_t h, uint32_t format = DRM_FORMAT_XRGB8888,
                                  uint32_t flags = 0, const FormatSupported& supported = linear_rgb32,
                                  const FdSize& size = buffer::fd_size) {
  buffer::Dmabuf out;
  return check_create(s, w, h, format, flags, supported, out, size);
}

// ---------------------------------------------------------------- control

TEST(DmabufParams, ValidDescriptionIsAcceptedAndFdsMoveOut) {
  ParamsState s;
  UniqueFd fd = make_memfd(64 * 64 * 4 + 128);
  const int raw = fd.get();
  add_plane(s, 0, std::move(fd), 128, 256);
  buffer::Dmabuf out;
  const auto err = check_create(s, 64, 64, DRM_FORMAT_XRGB8888, 0, linear_rgb32, out);
  ASSERT_FALSE(err.has_value()) << err->message;
  EXPECT_TRUE(s.used);
  EXPECT_EQ(out.width, 64u);
  EXPECT_EQ(out.height, 64u);
  EXPECT_EQ(out.format, static_cast<uint32_t>(DRM_FORMAT_XRGB8888));
  EXPECT_EQ(out.modifier, kLinear);
  EXPECT_EQ(out.num_planes, 1u);
  EXPECT_EQ(out.planes[0].fd.get(), raw) << "the very descriptor moves into the Dmabuf";
  EXPECT_EQ(out.planes[0].offset, 128u);
  EXPECT_EQ(out.planes[0].stride, 256u);
  EXPECT_FALSE(s.planes[0].fd) << "the params state no longer owns the fd";
  EXPECT_FALSE(out.validate().has_value()) << "check_create's result passes the same validator";
}

TEST(DmabufParams, LargestDimensionIsAccepted) {
  ParamsState s;
  add_plane(s, 0, make_memfd(1), 0, 16384 * 4);
  const auto err = create(s, 16384, 16384, DRM_FORMAT_XRGB8888, 0, linear_rgb32, fixed_size(int64_t{16384} * 16384 * 4));
  EXPECT_FALSE(err.has_value()) << err->message;
}

TEST(DmabufParams, ExactFitIsAccepted) {
  ParamsState s;
  add_plane(s, 0, make_memfd(1), 100, 256);
  const auto err = create(s, 64, 64, DRM_FORMAT_XRGB8888, 0, linear_rgb32, fixed_size(100 + 256 * 64));
  EXPECT_FALSE(err.has_value()) << err->message;
}

// ---------------------------------------------------------------- ALREADY_USED

TEST(DmabufParams, AddAfterCreateIsAlreadyUsed) {
  ParamsState s = valid_state();
  ASSERT_FALSE(create(s, 64, 64).has_value());
  const auto err = check_add(s, 1, kLinear);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED);
  EXPECT_THAT(err->message, HasSubstr("already used"));
}

TEST(DmabufParams, CreateTwiceIsAlreadyUsed) {
  ParamsState s = valid_state();
  ASSERT_FALSE(create(s, 64, 64).has_value());
  const auto err = create(s, 64, 64);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED);
  EXPECT_THAT(err->message, HasSubstr("already used"));
}

TEST(DmabufParams, FailedCreateStillUsesTheParams) {
  ParamsState s = valid_state();
  expect_protocol(create(s, 0, 64), ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_DIMENSIONS);
  expect_protocol(create(s, 64, 64), ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED);
}

// ---------------------------------------------------------------- PLANE_IDX / PLANE_SET

TEST(DmabufParams, PlaneIndexFourIsOutOfBounds) {
  ParamsState s;
  const auto err = check_add(s, 4, kLinear);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_IDX);
  EXPECT_THAT(err->message, HasSubstr("4"));
}

TEST(DmabufParams, PlaneIndexUint32MaxIsOutOfBounds) {
  ParamsState s;
  const auto err = check_add(s, UINT32_MAX, kLinear);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_IDX);
  EXPECT_THAT(err->message, HasSubstr("4294967295"));
}

TEST(DmabufParams, HighestPlaneIndexIsAccepted) {
  ParamsState s;
  EXPECT_FALSE(check_add(s, 3, kLinear).has_value());
}

TEST(DmabufParams, SamePlaneTwiceIsPlaneSet) {
  ParamsState s;
  add_plane(s, 1, make_memfd(16), 0, 4);
  const auto err = check_add(s, 1, kLinear);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_SET);
  EXPECT_THAT(err->message, HasSubstr("plane 1"));
}

TEST(DmabufParams, ModifierDifferentFromEarlierPlaneIsInvalidFormat) {
  ParamsState s;
  add_plane(s, 0, make_memfd(16), 0, 4, kLinear);
  const auto err = check_add(s, 1, kXTiled);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT);
  EXPECT_THAT(err->message, AllOf(HasSubstr("0x0100000000000001"), HasSubstr("LINEAR")));
}

// ---------------------------------------------------------------- INCOMPLETE

TEST(DmabufParams, NoPlanesIsIncomplete) {
  ParamsState s;
  const auto err = create(s, 64, 64);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE);
  EXPECT_THAT(err->message, HasSubstr("no planes"));
}

TEST(DmabufParams, PlaneOneWithoutPlaneZeroIsIncomplete) {
  ParamsState s;
  add_plane(s, 1, make_memfd(64 * 64 * 4), 0, 256);
  const auto err = create(s, 64, 64);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE);
  EXPECT_THAT(err->message, AllOf(HasSubstr("plane 1"), HasSubstr("plane 0")));
}

TEST(DmabufParams, GapAfterPlaneZeroIsIncomplete) {
  ParamsState s;
  add_plane(s, 0, make_memfd(64 * 64 * 4), 0, 256);
  add_plane(s, 2, make_memfd(64 * 64 * 4), 0, 256);
  const auto err = create(s, 64, 64, DRM_FORMAT_XRGB8888, 0, anything);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE);
  EXPECT_THAT(err->message, AllOf(HasSubstr("plane 2"), HasSubstr("plane 1")));
}

TEST(DmabufParams, SinglePlaneFormatWithTwoPlanesIsIncomplete) {
  ParamsState s;
  add_plane(s, 0, make_memfd(64 * 64 * 4), 0, 256);
  add_plane(s, 1, make_memfd(64 * 64 * 4), 0, 256);
  const auto err = create(s, 64, 64);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE);
  EXPECT_THAT(err->message, AllOf(HasSubstr("XRGB8888"), HasSubstr("2")));
}

// ---------------------------------------------------------------- INVALID_FORMAT

TEST(DmabufParams, UnknownFourccIsInvalidFormat) {
  ParamsState s = valid_state();
  const uint32_t zzzz = fourcc_code('Z', 'Z', 'Z', 'Z');
  // Even a permissive display cannot take a format zcpipe does not know.
  const auto err = create(s, 64, 64, zzzz, 0, anything);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT);
  EXPECT_THAT(err->message, HasSubstr("ZZZZ"));
}

TEST(DmabufParams, KnownFormatTheDisplayRejectsIsInvalidFormat) {
  ParamsState s = valid_state();
  const auto err = create(s, 64, 64, DRM_FORMAT_RGB888);  // known to zcpipe, not in linear_rgb32
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT);
  EXPECT_THAT(err->message, HasSubstr("RGB888"));
}

TEST(DmabufParams, SupportedFormatWithUnsupportedModifierIsInvalidFormat) {
  ParamsState s;
  add_plane(s, 0, make_memfd(64 * 64 * 4), 0, 256, kXTiled);
  const auto err = create(s, 64, 64);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT);
  EXPECT_THAT(err->message, AllOf(HasSubstr("XRGB8888"), HasSubstr("0x0100000000000001")));
}

// ---------------------------------------------------------------- INVALID_DIMENSIONS

struct DimCase {
  int32_t w, h;
  const char* named;  // the value the message must name
};

class DmabufParamsDimensions : public ::testing::TestWithParam<DimCase> {};

TEST_P(DmabufParamsDimensions, AreRejected) {
  const DimCase c = GetParam();
  ParamsState s;
  add_plane(s, 0, make_memfd(1), 0, 16385 * 4);
  const auto err = create(s, c.w, c.h, DRM_FORMAT_XRGB8888, 0, linear_rgb32, fixed_size(int64_t{1} << 40));
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_DIMENSIONS);
  EXPECT_THAT(err->message, HasSubstr(c.named));
}

INSTANTIATE_TEST_SUITE_P(All, DmabufParamsDimensions,
                         ::testing::Values(DimCase{0, 64, "0x64"}, DimCase{64, 0, "64x0"},
                                           DimCase{-1, 64, "-1x64"}, DimCase{64, -64, "64x-64"},
                                           DimCase{INT32_MIN, 64, "-2147483648"},
                                           DimCase{16385, 64, "16385"}, DimCase{64, 16385, "16385"}),
                         [](const ::testing::TestParamInfo<DimCase>& i) {
                           auto n = [](int32_t v) { return v < 0 ? "minus" + std::to_string(-int64_t{v}) : std::to_string(v); };
                           return n(i.param.w) + "x" + n(i.param.h);
                         });

// ---------------------------------------------------------------- OUT_OF_BOUNDS

TEST(DmabufParams, StrideSmallerThanARowIsOutOfBounds) {
  ParamsState s;
  add_plane(s, 0, make_memfd(64 * 64 * 4), 0, 255);
  const auto err = create(s, 64, 64);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS);
  EXPECT_THAT(err->message, AllOf(HasSubstr("255"), HasSubstr("256")));
}

TEST(DmabufParams, OffsetAtEndOfBufferIsOutOfBounds) {
  ParamsState s;
  add_plane(s, 0, make_memfd(16384), 16384, 256);
  const auto err = create(s, 64, 1);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS);
  EXPECT_THAT(err->message, AllOf(HasSubstr("offset 16384"), HasSubstr("16384")));
}

TEST(DmabufParams, PlaneExtendingPastTheEndIsOutOfBounds) {
  ParamsState s;
  add_plane(s, 0, make_memfd(16384), 4, 256);  // 4 + 256 * 64 = 16388 > 16384
  const auto err = create(s, 64, 64);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS);
  EXPECT_THAT(err->message, AllOf(HasSubstr("16388"), HasSubstr("16384")));
}

// stride * height = 2^24 * 2^8 = 2^32: 0 in 32-bit arithmetic, which would fit.
TEST(DmabufParams, StrideTimesHeightWrapping32BitsIsOutOfBounds) {
  ParamsState s;
  add_plane(s, 0, make_memfd(1), 0, 1u << 24);
  const auto err = create(s, 64, 256, DRM_FORMAT_XRGB8888, 0, linear_rgb32, fixed_size(1 << 16));
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS);
  EXPECT_THAT(err->message, HasSubstr("4294967296"));
}

// offset + stride * height = 0xffffff00 + 0x100 = 2^32: also 0 in 32 bits.
TEST(DmabufParams, OffsetPlusExtentWrapping32BitsIsOutOfBounds) {
  ParamsState s;
  add_plane(s, 0, make_memfd(1), 0xffffff00u, 256);
  const auto err = create(s, 64, 1, DRM_FORMAT_XRGB8888, 0, linear_rgb32, fixed_size(int64_t{1} << 31));
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS);
  EXPECT_THAT(err->message, HasSubstr("4294967040"));  // the offset, named
}

TEST(DmabufParams, MaximalFieldsDoNotOverflow) {
  ParamsState s;
  add_plane(s, 0, make_memfd(1), UINT32_MAX, UINT32_MAX);
  // The true extent is ~2^46 bytes; any wrap-around would make it look small.
  const auto err = create(s, 16384, 16384, DRM_FORMAT_XRGB8888, 0, linear_rgb32, fixed_size(int64_t{1} << 40));
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS);
  const uint64_t extent = uint64_t{UINT32_MAX} + uint64_t{UINT32_MAX} * 16384;
  EXPECT_THAT(err->message, HasSubstr(std::to_string(extent)));
}

TEST(DmabufParams, TwoPlanesOfASinglePlaneFormatNeverReachTheBoundsCheck) {
  // Plane 1 is wildly out of bounds, but the description is wrong earlier:
  // the plane count is reported, not a bounds error on a plane that should not exist.
  ParamsState s;
  add_plane(s, 0, make_memfd(64 * 64 * 4), 0, 256);
  add_plane(s, 1, make_memfd(1), 1u << 30, 256);
  const auto err = create(s, 64, 64, DRM_FORMAT_XRGB8888, 0, anything);
  expect_protocol(err, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE);
}

// lseek(SEEK_END) works on every dma-buf since Linux 3.19; an fd that cannot
// be sized (fd_size -1) skips the bounds check rather than failing, as in
// wlroots and Weston. Pinned here so a change of policy is a visible decision.
TEST(DmabufParams, UnsizableFdSkipsTheBoundsCheck) {
  ParamsState s;
  add_plane(s, 0, make_memfd(1), 1u << 30, 256);
  const auto err = create(s, 64, 64, DRM_FORMAT_XRGB8888, 0, linear_rgb32, fixed_size(-1));
  EXPECT_FALSE(err.has_value()) << err->message;
}

// ---------------------------------------------------------------- flags

TEST(DmabufParams, YInvertIsAcceptedAndRecorded) {
  ParamsState s = valid_state();
  buffer::Dmabuf out;
  const auto err = check_create(s, 64, 64, DRM_FORMAT_XRGB8888, ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_Y_INVERT,
                                linear_rgb32, out);
  ASSERT_FALSE(err.has_value()) << err->message;
  EXPECT_TRUE(out.y_invert);
  ParamsState t = valid_state();
  buffer::Dmabuf plain;
  ASSERT_FALSE(check_create(t, 64, 64, DRM_FORMAT_XRGB8888, 0, linear_rgb32, plain).has_value());
  EXPECT_FALSE(plain.y_invert);
}

TEST(DmabufParams, OtherFlagsAreAnImportFailureNamingThem) {
  const std::vector<std::pair<uint32_t, std::string>> cases = {
      {2u, "flags 0x2 are not supported (interlaced)"},
      {4u, "flags 0x4 are not supported (bottom_first)"},
      {7u, "flags 0x7 are not supported (interlaced, bottom_first)"},
      {9u, "flags 0x9 are not supported (unknown bits 0x8)"},
  };
  for (const auto& [flags, message] : cases) {
    ParamsState s = valid_state();
    const auto err = create(s, 64, 64, DRM_FORMAT_XRGB8888, flags);
    ASSERT_TRUE(err.has_value()) << "flags " << flags;
    EXPECT_EQ(err->kind, ParamsError::Kind::import) << err->message;
    EXPECT_EQ(err->code, static_cast<uint32_t>(ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_WL_BUFFER));
    EXPECT_THAT(err->message, HasSubstr(message));
    EXPECT_TRUE(s.planes[0].fd) << "a failed import keeps (and later closes) the fd";
  }
}

TEST(DmabufParams, ProtocolErrorsTakePrecedenceOverFlags) {
  ParamsState s;
  add_plane(s, 0, make_memfd(64 * 64 * 4), 0, 255);
  expect_protocol(create(s, 64, 64, DRM_FORMAT_XRGB8888, 2), ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS);
}

}  // namespace
}  // namespace zc::server
