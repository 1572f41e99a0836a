// The socket baseline's wire format (wire/socket_wire.h): the bytes are
// little-endian at fixed offsets, and a bad header names its bad value.
#include <drm_fourcc.h>

#include <gtest/gtest.h>

#include <cstdint>

#include "wire/socket_wire.h"

namespace zc::wire {
namespace {

SocketFrameHeader good() {
  SocketFrameHeader h;
  h.seq = 0x0102030405060708ull;
  h.width = 640;
  h.height = 480;
  h.stride = 2560;
  h.format = DRM_FORMAT_XRGB8888;
  h.byte_count = 2560ull * 480;
  return h;
}

TEST(SocketWire, EncodesLittleEndianAtFixedOffsets) {
  uint8_t b[kSocketHeaderBytes] = {};
  encode_header(good(), b);
  EXPECT_EQ(b[0], 'Z');  // magic "ZCPF"
  EXPECT_EQ(b[1], 'C');
  EXPECT_EQ(b[2], 'P');
  EXPECT_EQ(b[3], 'F');
  EXPECT_EQ(b[4], 1);     // version
  EXPECT_EQ(b[8], 0x08);  // seq, low byte first
  EXPECT_EQ(b[15], 0x01);
  EXPECT_EQ(b[16] | b[17] << 8, 640);  // width
  EXPECT_EQ(b[24] | b[25] << 8, 2560);  // stride
}

TEST(SocketWire, DecodeInvertsEncode) {
  uint8_t b[kSocketHeaderBytes] = {};
  encode_header(good(), b);
  const SocketFrameHeader h = decode_header(b);
  EXPECT_EQ(h.magic, kSocketMagic);
  EXPECT_EQ(h.seq, good().seq);
  EXPECT_EQ(h.width, 640u);
  EXPECT_EQ(h.height, 480u);
  EXPECT_EQ(h.stride, 2560u);
  EXPECT_EQ(h.format, static_cast<uint32_t>(DRM_FORMAT_XRGB8888));
  EXPECT_EQ(h.byte_count, 2560ull * 480);
  EXPECT_FALSE(validate_header(h));
}

TEST(SocketWire, BadHeadersNameTheValueAndTheError) {
  auto h = good();
  h.stride = 100;
  auto e = validate_header(h);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, static_cast<uint32_t>(StreamError::bad_size));
  EXPECT_NE(e->message.find("stride 100"), std::string::npos) << e->message;

  h = good();
  h.magic = 0x12345678;
  e = validate_header(h);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, static_cast<uint32_t>(StreamError::bad_magic));
  EXPECT_NE(e->message.find("0x12345678"), std::string::npos) << e->message;

  h = good();
  h.format = DRM_FORMAT_NV12;
  e = validate_header(h);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, static_cast<uint32_t>(StreamError::bad_format));
}

}  // namespace
}  // namespace zc::wire
