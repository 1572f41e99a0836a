// Frame sequence numbers: the frame header carries a 64-bit seq
// ("frame sequence chosen by the client"), attach_frame a 32-bit one. A
// client numbering its frames from 0 (zcpipe-client does: header seq n,
// attach_frame(uint32_t(n))) crosses 2^32 eventually; the frame it then
// names must still be the frame on the socket, i.e. attach_frame's seq is
// compared with the low 32 bits of the header's.
#include <gtest/gtest.h>

#include "scenario.h"

namespace zcb {
namespace {

void show(RawClient& c, uint64_t header_seq, uint32_t attach_seq) {
  c.write_header(valid_header(kW, kH, header_seq), kFrameBytes);
  c.attach_frame(attach_seq);
  c.request_feedback();
  c.commit();
  c.flush();
}

TEST(BaselineSeqWrap, AttachFrameNamesTheLow32BitsOfTheHeaderSeq) {
  Scenario sc(0);
  RawClient c(sc.socket_path());
  c.make_window();
  ASSERT_TRUE(c.get_stream(65536)) << RawClient::describe(c.error());
  const uint64_t base = (uint64_t{1} << 32) - 1;  // 0xffffffff, then 2^32, 2^32 + 1
  for (uint64_t k = 0; k < 3; ++k) {
    try {
      show(c, base + k, static_cast<uint32_t>(base + k));
    } catch (const std::exception& e) {  // the compositor cut the stream off
      ADD_FAILURE() << "frame with header seq " << base + k << ": " << e.what() << "; "
                    << RawClient::describe(c.wait_error(5s));
      break;
    }
  }
  EXPECT_TRUE(c.dispatch_until([&] { return c.presented() + c.discarded() == 3; }, 10s))
      << RawClient::describe(c.error());
  EXPECT_EQ(c.error().error, 0) << RawClient::describe(c.error());
  EXPECT_EQ(c.presented() + c.discarded(), 3u);
  c.disconnect();
  const json s = sc.stop();
  EXPECT_EQ(s["counters"]["protocol_errors"], 0);
  EXPECT_EQ(s["counters"]["commits"], 3);
}

}  // namespace
}  // namespace zcb
