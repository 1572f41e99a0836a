// Fuzz target: the socket baseline's frame header (src/wire/socket_wire.*).
//
// The compositor reads 40 bytes from a client's data socket, decodes them and
// validates them before it sizes a staging buffer or reads a single pixel. A
// header that passes validate_header() is therefore a promise the reader
// relies on: the byte count is exactly stride × height, each row holds a full
// row of pixels, and the frame is no larger than kMaxFrameBytes (what one
// client can make the compositor allocate). This harness checks that promise
// for arbitrary bytes, not merely that nothing crashes.
#include <cstdint>
#include <cstring>

#include "common/format.h"
#include "fuzz_check.h"
#include "wire/socket_wire.h"

using namespace zc::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kSocketHeaderBytes) return -1;  // the reader never decodes a short header; reject the input
  const SocketFrameHeader h = decode_header(data);

  // The wire format is a bijection: encoding what was decoded gives the same 40 bytes.
  uint8_t again[kSocketHeaderBytes];
  encode_header(h, again);
  FUZZ_CHECK(std::memcmp(again, data, kSocketHeaderBytes) == 0, "encode(decode(x)) != x");

  const auto err = validate_header(h);
  if (err) {
    // A refusal names a code of the protocol (the client gets it as an
    // error event) and says what was wrong.
    FUZZ_CHECK(err->code == uint32_t(StreamError::bad_magic) || err->code == uint32_t(StreamError::bad_format) ||
                   err->code == uint32_t(StreamError::bad_size),
               "unknown error code %u", err->code);
    FUZZ_CHECK(!err->message.empty(), "empty message for code %u", err->code);
    return 0;
  }

  // Accepted: everything the reader will rely on holds.
  FUZZ_CHECK(h.magic == kSocketMagic && h.version == kSocketVersion, "magic 0x%x version %u accepted", h.magic,
             h.version);
  const zc::FormatInfo* f = zc::format_info(h.format);
  FUZZ_CHECK(f != nullptr, "unknown format 0x%x accepted", h.format);
  FUZZ_CHECK(h.width >= 1 && h.height >= 1 && h.width <= 16384 && h.height <= 16384, "size %ux%u accepted",
             h.width, h.height);
  // 32-bit operands: the 64-bit products below cannot overflow.
  FUZZ_CHECK(uint64_t{h.stride} >= uint64_t{h.width} * f->bytes_per_pixel, "stride %u < row of %u x %u bytes",
             h.stride, h.width, f->bytes_per_pixel);
  FUZZ_CHECK(h.byte_count == uint64_t{h.stride} * h.height, "byte_count %llu != stride %u x height %u",
             static_cast<unsigned long long>(h.byte_count), h.stride, h.height);
  FUZZ_CHECK(h.byte_count <= kMaxFrameBytes, "byte_count %llu above the cap %llu",
             static_cast<unsigned long long>(h.byte_count), static_cast<unsigned long long>(kMaxFrameBytes));
  // The last pixel the copy reads lies inside the byte_count bytes received.
  const uint64_t last = uint64_t{h.stride} * (h.height - 1) + uint64_t{h.width} * f->bytes_per_pixel;
  FUZZ_CHECK(last <= h.byte_count, "last pixel byte %llu beyond byte_count %llu",
             static_cast<unsigned long long>(last), static_cast<unsigned long long>(h.byte_count));
  return 0;
}
