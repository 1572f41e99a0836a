// The socket baseline (protocol/zcpipe-socket-v1.xml): a client that breaks
// the data socket's framing, or stops in the middle of a frame.
//
// Once the compositor refuses a frame it must stop being a sink for that
// client's bytes: it closes its end of the data socket, so a client blocked
// in write() gets EPIPE at once instead of hanging forever on a socket
// nobody reads. And a frame whose bytes stop arriving is refused after the
// stated 3 s without progress, not up to twice that.
#include <sys/socket.h>

#include "hostile.h"
#include "zcpipe-socket-v1-client-protocol.h"

namespace zch {
namespace {

constexpr uint64_t kStallMs = 3000;  // socket_stream.cpp's stall timeout
// Timer granularity of the compositor's check (it looks every 500 ms) plus
// scheduling on a shared machine.
constexpr uint64_t kStallSlackMs = 900;

void setup_stream(RawClient& c) {
  c.make_window();
  ASSERT_TRUE(c.get_stream(65536)) << RawClient::describe(c.error());
  ASSERT_GE(c.data_fd(), 0);
  // A write() that blocks longer than this returns EAGAIN: a test of the
  // old behaviour fails instead of hanging.
  timeval tv{10, 0};
  ASSERT_EQ(::setsockopt(c.data_fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
}

// Blocking writes of up to 64 MiB: the errno that ended them (0 if all went
// through) and how long that took.
std::pair<int, uint64_t> write_until_error(int fd) {
  std::vector<uint8_t> buf(1 << 20, 0x33);
  const uint64_t t0 = mono_ms();
  for (int i = 0; i < 64; ++i) {
    size_t done = 0;
    while (done < buf.size()) {
      const ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return {errno, mono_ms() - t0};
      done += static_cast<size_t>(n);
    }
  }
  return {0, mono_ms() - t0};
}

using SocketTransport = Hostile;

TEST_F(SocketTransport, BadHeaderClosesTheDataSocketSoABlockingWriterGetsEPIPE) {
  start_witness();
  RawClient bad(sc().socket_path());
  setup_stream(bad);
  Header h = valid_header(kW, kH, 0);
  h.magic = 0xdeadbeef;
  bad.write_header(h);
  const auto [err, ms] = write_until_error(bad.data_fd());
  EXPECT_TRUE(err == EPIPE || err == ECONNRESET) << "write ended with " << std::strerror(err) << " after " << ms << " ms";
  EXPECT_LT(ms, 5000u);
  expect_error(bad.wait_error(10s), "zcpipe_socket_stream_v1", ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_MAGIC);
  bad.disconnect();
  expect_witness_presented();
  expect_compositor_lived();
}

// A well-formed header for a frame bigger than any scanout buffer (8192 x
// 8192 x 4 = 256 MiB, inside the wire format's own limits): refused with
// bad_size before the compositor maps a staging buffer for it, not after it
// read 256 MiB it could never show.
TEST_F(SocketTransport, FrameLargerThanAScanoutBufferIsRefusedBeforeStaging) {
  start_witness();
  const pid_t pid = sc().comp().pid();
  const uint64_t peak_before = proc_status_bytes(pid, "VmPeak");
  ASSERT_GT(peak_before, 0u);
  RawClient bad(sc().socket_path());
  setup_stream(bad);
  const Header h = valid_header(8192, 8192, 0);
  ASSERT_EQ(h.byte_count, uint64_t{268435456});
  bad.write_header(h);
  expect_error(bad.wait_error(10s), "zcpipe_socket_stream_v1", ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SIZE);
  const auto [err, ms] = write_until_error(bad.data_fd());
  EXPECT_TRUE(err == EPIPE || err == ECONNRESET) << "write ended with " << std::strerror(err) << " after " << ms << " ms";
  const uint64_t grew = proc_status_bytes(pid, "VmPeak") - peak_before;
  EXPECT_LT(grew, h.byte_count / 2) << "the compositor mapped " << grew << " bytes for a frame it refused";
  bad.disconnect();
  expect_witness_presented();
  expect_compositor_lived();
}

TEST_F(SocketTransport, StallInTheBodyIsCaughtAfterThreeSecondsAndClosesTheSocket) {
  start_witness("shm", 300);  // ~5 s: outlives the stall
  RawClient bad(sc().socket_path());
  setup_stream(bad);
  const uint64_t t0 = mono_ms();
  // Header and some body in one write(): the compositor sees progress in the
  // body right after the header, then nothing more.
  bad.write_header(valid_header(kW, kH, 0), 64 * 1024);
  const RawClient::ProtocolError e = bad.wait_error(15s);
  const uint64_t waited = mono_ms() - t0;
  expect_error(e, "zcpipe_socket_stream_v1", ZCPIPE_SOCKET_STREAM_V1_ERROR_TRUNCATED);
  EXPECT_GE(waited, kStallMs - 50);
  EXPECT_LE(waited, kStallMs + kStallSlackMs) << "the stall was caught late";
  const auto [err, ms] = write_until_error(bad.data_fd());
  EXPECT_TRUE(err == EPIPE || err == ECONNRESET) << "write ended with " << std::strerror(err) << " after " << ms << " ms";
  bad.disconnect();
  expect_witness_presented();
  expect_compositor_lived();
}

// A stall inside the header is bounded the same way.
TEST_F(SocketTransport, StallInTheHeaderIsCaughtAfterThreeSeconds) {
  RawClient bad(sc().socket_path());
  setup_stream(bad);
  const auto hdr = encode(valid_header(kW, kH, 0));
  const uint64_t t0 = mono_ms();
  write_all(bad.data_fd(), hdr.data(), 20);
  const RawClient::ProtocolError e = bad.wait_error(15s);
  const uint64_t waited = mono_ms() - t0;
  expect_error(e, "zcpipe_socket_stream_v1", ZCPIPE_SOCKET_STREAM_V1_ERROR_TRUNCATED);
  EXPECT_GE(waited, kStallMs - 50);
  EXPECT_LE(waited, kStallMs + kStallSlackMs);
  bad.disconnect();
  expect_compositor_lived();
}

}  // namespace
}  // namespace zch
