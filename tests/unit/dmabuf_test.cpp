// buffer/dmabuf.h: sizing descriptors, validating a Dmabuf, telling a real
// dma-buf from a memfd.
#include <drm_fourcc.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "buffer/dmabuf.h"

namespace zc::buffer {
namespace {

using ::testing::HasSubstr;

UniqueFd make_memfd(off_t size) {
  UniqueFd fd{::memfd_create("dmabuf-test", MFD_CLOEXEC)};
  EXPECT_TRUE(fd);
  EXPECT_EQ(::ftruncate(fd.get(), size), 0);
  return fd;
}

// 64x64 XRGB8888, stride 256, on a memfd of exactly 16 KiB.
Dmabuf valid(off_t size = 64 * 64 * 4) {
  Dmabuf d;
  d.width = 64;
  d.height = 64;
  d.format = DRM_FORMAT_XRGB8888;
  d.modifier = DRM_FORMAT_MOD_LINEAR;
  d.num_planes = 1;
  d.planes[0].fd = make_memfd(size);
  d.planes[0].offset = 0;
  d.planes[0].stride = 256;
  return d;
}

// validate() is what linux-dmabuf import runs (server/dmabuf_params.cpp maps
// the fault to a protocol error), so these pin the production check.
void expect_invalid(const Dmabuf& d, DmabufFault fault, const std::string& named) {
  const auto bad = d.validate();
  ASSERT_TRUE(bad.has_value()) << "expected a validation error naming " << named;
  EXPECT_EQ(bad->fault, fault) << bad->message;
  EXPECT_THAT(bad->message, HasSubstr(named));
}

// ---------------------------------------------------------------- fd_size

TEST(FdSize, MemfdReportsItsSizeAndKeepsTheFileOffset) {
  UniqueFd fd = make_memfd(12345);
  ASSERT_EQ(::lseek(fd.get(), 100, SEEK_SET), 100);
  EXPECT_EQ(fd_size(fd.get()), 12345);
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), 100) << "fd_size must restore the offset";
  ASSERT_EQ(::ftruncate(fd.get(), 1 << 20), 0);
  EXPECT_EQ(fd_size(fd.get()), 1 << 20);
}

TEST(FdSize, EmptyMemfdIsZero) {
  UniqueFd fd = make_memfd(0);
  EXPECT_EQ(fd_size(fd.get()), 0);
}

TEST(FdSize, PipeCannotBeSized) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r{p[0]}, w{p[1]};
  errno = 0;
  EXPECT_EQ(fd_size(r.get()), -1);
  EXPECT_EQ(errno, ESPIPE);
  EXPECT_EQ(fd_size(w.get()), -1);
}

TEST(FdSize, ClosedDescriptorCannotBeSized) {
  int raw;
  {
    UniqueFd fd = make_memfd(10);
    raw = fd.get();
  }
  errno = 0;
  EXPECT_EQ(fd_size(raw), -1);
  EXPECT_EQ(errno, EBADF);
}

// ---------------------------------------------------------------- validate

TEST(DmabufValidate, ValidDescriptionPasses) {
  const Dmabuf d = valid();
  const auto bad = d.validate();
  EXPECT_FALSE(bad.has_value()) << bad->message;
}

TEST(DmabufValidate, ExactFitWithOffsetPasses) {
  Dmabuf d = valid(64 + 64 * 256);
  d.planes[0].offset = 64;
  const auto bad = d.validate();
  EXPECT_FALSE(bad.has_value()) << bad->message;
}

TEST(DmabufValidate, Rgb888RowOfThreeBytesPerPixelPasses) {
  Dmabuf d = valid(64 * 64 * 3);
  d.format = DRM_FORMAT_RGB888;
  d.planes[0].stride = 192;
  const auto bad = d.validate();
  EXPECT_FALSE(bad.has_value()) << bad->message;
}

TEST(DmabufValidate, UnknownFormat) {
  Dmabuf d = valid();
  d.format = fourcc_code('N', 'V', '1', '2');
  expect_invalid(d, DmabufFault::format, "NV12");
}

TEST(DmabufValidate, ZeroWidth) {
  Dmabuf d = valid();
  d.width = 0;
  expect_invalid(d, DmabufFault::dimensions, "0x64");
}

TEST(DmabufValidate, ZeroHeight) {
  Dmabuf d = valid();
  d.height = 0;
  expect_invalid(d, DmabufFault::dimensions, "64x0");
}

TEST(DmabufValidate, TooLarge) {
  Dmabuf d = valid();
  d.height = kMaxDimension + 1;
  expect_invalid(d, DmabufFault::dimensions, "16385");
}

TEST(DmabufValidate, WrongPlaneCount) {
  Dmabuf d = valid();
  d.num_planes = 2;
  d.planes[1].fd = make_memfd(64 * 64 * 4);
  d.planes[1].stride = 256;
  expect_invalid(d, DmabufFault::plane_count, "got 2");
  d.num_planes = 0;
  expect_invalid(d, DmabufFault::plane_count, "got 0");
}

TEST(DmabufValidate, PlaneWithoutFd) {
  Dmabuf d = valid();
  d.planes[0].fd.reset();
  expect_invalid(d, DmabufFault::no_fd, "plane 0");
}

TEST(DmabufValidate, StrideShorterThanARow) {
  Dmabuf d = valid();
  d.planes[0].stride = 255;
  expect_invalid(d, DmabufFault::stride, "255");
}

TEST(DmabufValidate, PlanePastTheEndOfTheBuffer) {
  Dmabuf d = valid();
  d.planes[0].offset = 4;  // needs 16388 of 16384 bytes
  expect_invalid(d, DmabufFault::bounds, "16388");
}

TEST(DmabufValidate, HugeStrideDoesNotWrapAround) {
  // 2^24 * 256 rows = 2^32: zero if computed in 32 bits.
  Dmabuf d = valid();
  d.height = 256;
  d.planes[0].stride = 1u << 24;
  expect_invalid(d, DmabufFault::bounds, "4294967296");
}

TEST(DmabufValidate, HugeOffsetDoesNotWrapAround) {
  Dmabuf d = valid();
  d.height = 1;
  d.planes[0].offset = 0xffffff00u;  // + 256 = 2^32: zero if computed in 32 bits
  expect_invalid(d, DmabufFault::bounds, "4294967296");
}

TEST(DmabufExtent, IsComputedIn64Bits) {
  Dmabuf d;
  d.height = kMaxDimension;
  d.planes[0].offset = UINT32_MAX;
  d.planes[0].stride = UINT32_MAX;
  EXPECT_EQ(d.plane0_extent(), uint64_t{UINT32_MAX} + uint64_t{UINT32_MAX} * kMaxDimension);
}

// ---------------------------------------------------------------- is_dmabuf_fd

TEST(IsDmabufFd, MemfdIsNotADmabuf) {
  UniqueFd fd = make_memfd(4096);
  EXPECT_FALSE(is_dmabuf_fd(fd.get()));
}

TEST(IsDmabufFd, OtherFilesAreNotDmabufs) {
  UniqueFd null{::open("/dev/null", O_RDONLY | O_CLOEXEC)};
  ASSERT_TRUE(null);
  EXPECT_FALSE(is_dmabuf_fd(null.get()));
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r{p[0]}, w{p[1]};
  EXPECT_FALSE(is_dmabuf_fd(r.get()));
  EXPECT_FALSE(is_dmabuf_fd(-1));
}

// A regular file whose /proc/self/fd link reads like a dma-buf's
// ("/dmabuf:...") is still a regular file: a client can truncate it under
// the compositor, so it must not be taken for a dma-buf (which cannot
// shrink). Only a file in / has such a link: the test needs to create one.
TEST(IsDmabufFd, RegularFileNamedLikeADmabufIsNot) {
  const std::string path = "/dmabuf:zcpipe-unit-" + std::to_string(::getpid());
  UniqueFd fd{::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
  if (!fd) GTEST_SKIP() << "cannot create " << path << ": " << std::strerror(errno);
  ::unlink(path.c_str());  // the link now reads "/dmabuf:... (deleted)"
  ASSERT_EQ(::ftruncate(fd.get(), 4096), 0);
  EXPECT_FALSE(is_dmabuf_fd(fd.get()));
}

}  // namespace
}  // namespace zc::buffer
