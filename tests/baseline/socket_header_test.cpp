// The socket baseline rejects a bad frame header with the right
// zcpipe_socket_stream_v1 error, and only the client that sent it: a good
// zcpipe-client streaming through the same compositor presents every frame.
#include <gtest/gtest.h>

#include <functional>

#include "scenario.h"

namespace zcb {
namespace {

struct HeaderCase {
  const char* name;
  std::function<void(Header&)> mutate;
  uint32_t code;  // zcpipe_socket_stream_v1.error
};

// gtest prints a failing parameter with this (not as raw bytes).
void PrintTo(const HeaderCase& c, std::ostream* os) { *os << c.name; }

std::string case_name(const ::testing::TestParamInfo<HeaderCase>& i) { return i.param.name; }

class SocketHeaderTest : public ::testing::TestWithParam<HeaderCase> {};

TEST_P(SocketHeaderTest, BadHeaderIsAProtocolErrorAndTheGoodClientIsServed) {
  const HeaderCase& hc = GetParam();
  Scenario sc(/*refresh=*/60);
  RawClient bad(sc.socket_path());
  bad.make_window();
  ASSERT_TRUE(bad.get_stream(65536)) << RawClient::describe(bad.error());
  ASSERT_GE(bad.data_fd(), 0);

  // The good client streams 100 frames (about 1.7 s at 60 Hz) while the bad
  // header arrives.
  auto good = sc.start_client("good");
  std::this_thread::sleep_for(200ms);  // only makes overlap likely; nothing depends on it

  Header h = valid_header(kW, kH, 0);
  hc.mutate(h);
  bad.write_header(h, 4096);  // and a little body, in the same write()
  bad.attach_frame(0);
  bad.commit();
  bad.flush();

  const RawClient::ProtocolError e = bad.wait_error(15s);
  EXPECT_EQ(e.error, EPROTO) << RawClient::describe(e);
  EXPECT_EQ(e.iface, "zcpipe_socket_stream_v1") << RawClient::describe(e);
  EXPECT_EQ(e.code, hc.code) << RawClient::describe(e);
  bad.disconnect();

  const json g = sc.finish_client(*good, "good");
  EXPECT_EQ(g["frames_presented"], kGoodFrames);
  EXPECT_EQ(g["frames_discarded"], 0);

  const json s = sc.stop();
  const json& c = s["counters"];
  EXPECT_EQ(c["protocol_errors"], 1);
  EXPECT_EQ(c["commits"], kGoodFrames) << "the bad frame must never be committed";
  EXPECT_EQ(c["presented"], kGoodFrames);
  EXPECT_EQ(c["clients_connected"], 2);
  EXPECT_EQ(c["clients_disconnected"], 2);
}

INSTANTIATE_TEST_SUITE_P(
    Baseline, SocketHeaderTest,
    ::testing::Values(
        HeaderCase{"WrongMagic", [](Header& h) { h.magic = 0x46504358u; }, ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_MAGIC},
        HeaderCase{"ByteSwappedMagic", [](Header& h) { h.magic = 0x5a435046u; },
                   ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_MAGIC},
        HeaderCase{"WrongVersion", [](Header& h) { h.version = 2; }, ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_MAGIC},
        HeaderCase{"UnknownFourcc", [](Header& h) { h.format = 0x5a5a5a5au; /* 'ZZZZ' */ },
                   ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_FORMAT},
        HeaderCase{"ByteCountNotStrideTimesHeight", [](Header& h) { h.byte_count += 1; },
                   ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SIZE},
        HeaderCase{"StrideSmallerThanARow",
                   [](Header& h) {
                     h.stride = h.width * 4 - 4;
                     h.byte_count = uint64_t{h.stride} * h.height;  // consistent, but rows overlap
                   },
                   ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SIZE},
        HeaderCase{"WidthZero",
                   [](Header& h) {
                     h.width = 0;  // stride and byte_count unchanged: consistent with each other
                   },
                   ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SIZE},
        HeaderCase{"HeightTooLarge",
                   [](Header& h) {
                     h.height = 16385;
                     h.byte_count = uint64_t{h.stride} * h.height;
                   },
                   ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SIZE}),
    case_name);

}  // namespace
}  // namespace zcb
