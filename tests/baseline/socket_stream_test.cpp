// The socket baseline's stream-level failure modes (truncation, stalls,
// sequence numbers, chunk sizes, vanishing clients, a client that sends
// faster than frames are shown), each from a hand-written client while a
// good zcpipe-client streams through the same compositor. Every test ends by
// checking the compositor kept serving: the good client presented all its
// frames, the compositor's counters add up, and it exits 0 on SIGTERM.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <poll.h>

#include "scenario.h"

namespace zcb {
namespace {

constexpr uint32_t kStallMs = 3000;  // socket_stream.cpp: a frame that makes no progress for this long fails

void expect_stream_error(const RawClient::ProtocolError& e, uint32_t code) {
  EXPECT_EQ(e.error, EPROTO) << RawClient::describe(e);
  EXPECT_EQ(e.iface, "zcpipe_socket_stream_v1") << RawClient::describe(e);
  EXPECT_EQ(e.code, code) << RawClient::describe(e);
}

// One compositor per test (its counters are the test's evidence), a
// hand-written client for the misbehaviour, and a good zcpipe-client
// streaming beside it.
class BaselineSocketStream : public ::testing::Test {
 protected:
  Scenario sc{60};

  // Connects, maps a window and gets a stream with 64 KiB chunks.
  std::unique_ptr<RawClient> stream_client() {
    auto c = std::make_unique<RawClient>(sc.socket_path());
    c->make_window();
    EXPECT_TRUE(c->get_stream(65536)) << RawClient::describe(c->error());
    EXPECT_GE(c->data_fd(), 0);
    return c;
  }

  // The good client, started and streaming: waits (bounded) until the
  // compositor holds its two sockets (Wayland connection, data stream), so
  // the misbehaviour that follows overlaps its frames. An event to wait
  // for, not a guess at how long start-up takes.
  std::unique_ptr<Process> start_good() {
    const int before = count_sockets_of(sc.comp().pid());
    auto good = sc.start_client("good");
    const uint64_t deadline = zct::now_ns() + 20'000'000'000ull;
    while (count_sockets_of(sc.comp().pid()) < before + 2 && good->running() && zct::now_ns() < deadline)
      std::this_thread::sleep_for(2ms);
    EXPECT_GE(count_sockets_of(sc.comp().pid()), before + 2) << "the good client never got its stream";
    return good;
  }

  // The good client presented everything and the compositor's counters show
  // it served exactly that: `bad_clients` more clients, each with no frame
  // shown, and `errors` protocol errors.
  void expect_served(Process& good, int bad_clients, int errors) {
    const json g = sc.finish_client(good, "good");
    EXPECT_EQ(g["frames_presented"], kGoodFrames);
    EXPECT_EQ(g["frames_discarded"], 0);
    EXPECT_EQ(g["error"], "");
    const json s = sc.stop();
    const json& c = s["counters"];
    EXPECT_EQ(c["protocol_errors"], errors);
    EXPECT_EQ(c["commits"], kGoodFrames);
    EXPECT_EQ(c["presented"], kGoodFrames);
    EXPECT_EQ(c["clients_connected"], 1 + bad_clients);
    EXPECT_EQ(c["clients_disconnected"], 1 + bad_clients);
  }

  void disconnect_mid_frame(bool deferred_commit);
};

// -------------------------------------------------------------- truncated

TEST_F(BaselineSocketStream, DataSocketClosedMidBodyIsTruncated) {
  auto bad_client = stream_client();
  RawClient& bad = *bad_client;
  auto good = start_good();

  bad.write_header(valid_header(kW, kH, 0), 100 * 1024);  // 100 KiB of a 1.2 MB frame
  bad.close_data();
  expect_stream_error(bad.wait_error(15s), ZCPIPE_SOCKET_STREAM_V1_ERROR_TRUNCATED);
  bad.disconnect();
  expect_served(*good, 1, 1);
}

TEST_F(BaselineSocketStream, DataSocketClosedMidHeaderIsTruncated) {
  auto bad_client = stream_client();
  RawClient& bad = *bad_client;
  auto good = start_good();

  const auto hdr = encode(valid_header(kW, kH, 0));
  write_all(bad.data_fd(), hdr.data(), 20);  // half a header
  bad.close_data();
  expect_stream_error(bad.wait_error(15s), ZCPIPE_SOCKET_STREAM_V1_ERROR_TRUNCATED);
  bad.disconnect();
  expect_served(*good, 1, 1);
}

// The only test that waits on purpose: the stall timeout is the behaviour.
TEST_F(BaselineSocketStream, WriterStallingMidFrameIsTruncatedAfterTheTimeout) {
  auto bad_client = stream_client();
  RawClient& bad = *bad_client;
  auto good = start_good();

  const uint64_t t0 = mono_ms();
  bad.write_header(valid_header(kW, kH, 0), 64 * 1024);  // then nothing, connection kept open
  bad.attach_frame(0);
  bad.commit();  // deferred: its bytes never all arrive
  bad.flush();
  const RawClient::ProtocolError e = bad.wait_error(30s);
  const uint64_t waited = mono_ms() - t0;
  expect_stream_error(e, ZCPIPE_SOCKET_STREAM_V1_ERROR_TRUNCATED);
  // A lower bound only: the compositor's timer starts after we wrote the header.
  EXPECT_GE(waited, kStallMs) << "truncated before the stall timeout";
  bad.disconnect();
  expect_served(*good, 1, 1);
}

// ----------------------------------------------------------- bad_sequence

TEST_F(BaselineSocketStream, AttachOfAnotherSeqThanTheFrameOnTheSocket) {
  auto bad_client = stream_client();
  RawClient& bad = *bad_client;
  auto good = start_good();

  bad.write_header(valid_header(kW, kH, 7), kFrameBytes);  // frame 7, complete
  bad.attach_frame(8);
  bad.commit();
  bad.flush();
  expect_stream_error(bad.wait_error(15s), ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SEQUENCE);
  bad.disconnect();
  expect_served(*good, 1, 1);
}

// The commit comes first and is deferred; the frame that then arrives is
// not the one it named.
TEST_F(BaselineSocketStream, DeferredAttachOfAnotherSeq) {
  auto bad_client = stream_client();
  RawClient& bad = *bad_client;
  auto good = start_good();

  bad.attach_frame(1);
  bad.commit();
  ASSERT_TRUE(bad.roundtrip()) << "the commit alone is no error: " << RawClient::describe(bad.error());
  bad.write_header(valid_header(kW, kH, 0), kFrameBytes);
  expect_stream_error(bad.wait_error(15s), ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SEQUENCE);
  bad.disconnect();
  expect_served(*good, 1, 1);
}

// A second commit while the first still waits for its bytes.
TEST_F(BaselineSocketStream, SecondDeferredCommitIsTooManyFrames) {
  auto bad_client = stream_client();
  RawClient& bad = *bad_client;
  auto good = start_good();

  bad.attach_frame(0);
  bad.commit();
  bad.attach_frame(1);
  bad.commit();
  bad.flush();
  expect_stream_error(bad.wait_error(15s), ZCPIPE_SOCKET_STREAM_V1_ERROR_TOO_MANY_FRAMES);
  bad.disconnect();
  expect_served(*good, 1, 1);
}

// ------------------------------------------------------ manager errors

TEST_F(BaselineSocketStream, ChunkSizeOutOfRangeAndSecondStream) {
  auto good = start_good();

  struct Case {
    const char* what;
    uint32_t first_chunk;
    bool second_stream;
    uint32_t code;
  };
  const Case cases[] = {
      {"chunk_size 100", 100, false, ZCPIPE_SOCKET_MANAGER_V1_ERROR_BAD_CHUNK_SIZE},
      {"chunk_size 4095", 4095, false, ZCPIPE_SOCKET_MANAGER_V1_ERROR_BAD_CHUNK_SIZE},
      {"chunk_size 16 MiB + 1", (16u << 20) + 1, false, ZCPIPE_SOCKET_MANAGER_V1_ERROR_BAD_CHUNK_SIZE},
      {"second get_stream on one surface", 65536, true, ZCPIPE_SOCKET_MANAGER_V1_ERROR_ALREADY_STREAMING},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    RawClient bad(sc.socket_path());
    bad.make_window();
    bad.get_stream(k.first_chunk, /*wait=*/k.second_stream);
    if (k.second_stream) bad.get_stream(65536, /*wait=*/false);
    const RawClient::ProtocolError e = bad.wait_error(15s);
    EXPECT_EQ(e.error, EPROTO) << RawClient::describe(e);
    EXPECT_EQ(e.iface, "zcpipe_socket_manager_v1") << RawClient::describe(e);
    EXPECT_EQ(e.code, k.code) << RawClient::describe(e);
  }
  // The limits themselves are accepted.
  for (uint32_t chunk : {4096u, 16u << 20}) {
    RawClient ok(sc.socket_path());
    ok.make_window();
    EXPECT_TRUE(ok.get_stream(chunk)) << "chunk_size " << chunk << ": " << RawClient::describe(ok.error());
    EXPECT_TRUE(ok.roundtrip());
  }
  expect_served(*good, 6, 4);
}

// ------------------------------------------------------------- vanishing

// A client that goes away mid-frame (data socket and Wayland connection) is
// no error to report, but nothing of it may stay behind in the compositor:
// its descriptor count returns to where it was before the client came.
void BaselineSocketStream::disconnect_mid_frame(bool deferred_commit) {
  // Warm-up: the scanout buffers and libwayland's timer descriptor that any
  // socket client brings into being are there before the baseline is taken.
  sc.run_good_client("warm", "socket", 10);
  ASSERT_EQ(sc.settle_sockets(), sc.sockets_at_start());
  const int fds_before = sc.comp().open_fds();
  ASSERT_GT(fds_before, 3);

  auto good = start_good();
  {
    auto bad_client = stream_client();
    RawClient& bad = *bad_client;
    if (deferred_commit) {
      bad.attach_frame(0);
      bad.request_feedback();
      bad.commit();
      ASSERT_TRUE(bad.roundtrip());
    }
    bad.write_header(valid_header(kW, kH, 0), 100 * 1024);
    EXPECT_EQ(bad.error().error, 0);
    bad.disconnect();
  }
  const json g = sc.finish_client(*good, "good");
  EXPECT_EQ(g["frames_presented"], kGoodFrames);
  EXPECT_EQ(g["error"], "");

  EXPECT_EQ(sc.settle_sockets(), sc.sockets_at_start()) << "a client or stream socket stayed open";
  EXPECT_EQ(sc.comp().open_fds(), fds_before) << "descriptors leaked by a client that left mid-frame";

  const json s = sc.stop();
  const json& c = s["counters"];
  // The compositor may or may not have read the end of the data socket before
  // it noticed the client was gone: at most that one error, to a dead client.
  EXPECT_LE(c["protocol_errors"].get<int>(), 1);
  EXPECT_EQ(c["commits"], 10 + kGoodFrames);
  EXPECT_EQ(c["presented"], 10 + kGoodFrames);
  EXPECT_EQ(c["clients_connected"], 3);
  EXPECT_EQ(c["clients_disconnected"], 3);
}

TEST_F(BaselineSocketStream, ClientVanishingMidFrame) { disconnect_mid_frame(false); }
TEST_F(BaselineSocketStream, ClientVanishingMidFrameWithADeferredCommit) { disconnect_mid_frame(true); }

// ----------------------------------------------------------- backpressure

// A client that writes frames back to back and commits each without waiting
// for frame callbacks: no error, nothing lost. The compositor stops reading
// while a complete frame waits for its commit, so the writer is paced by
// its own blocking write(); every commit ends presented or discarded.
TEST_F(BaselineSocketStream, FasterThanShownIsPacedNotAnError) {
  constexpr uint32_t kFast = 5;
  auto fast_client = stream_client();
  RawClient& fast = *fast_client;
  // The window mapped last is on top. The fast client must be on top (its
  // last frame then replaces nothing and must reach the screen), so the
  // good one maps first: wait until the compositor has copied a good frame
  // into a scanout buffer of its own (a memfd it allocates at that commit).
  const int scanout_before = count_fds_of(sc.comp().pid(), "/memfd:zcpipe-frame");
  auto good = start_good();
  const uint64_t deadline = zct::now_ns() + 20'000'000'000ull;
  while (count_fds_of(sc.comp().pid(), "/memfd:zcpipe-frame") <= scanout_before && good->running() &&
         zct::now_ns() < deadline)
    std::this_thread::sleep_for(2ms);
  ASSERT_GT(count_fds_of(sc.comp().pid(), "/memfd:zcpipe-frame"), scanout_before)
      << "the good client's first frame never reached a scanout buffer";

  for (uint32_t k = 0; k < kFast; ++k) {
    fast.write_header(valid_header(kW, kH, k), kFrameBytes, static_cast<uint8_t>(k));
    fast.attach_frame(k);
    fast.request_feedback();
    fast.commit();
    ASSERT_GE(fast.flush(), 0) << "frame " << k << ": " << std::strerror(errno);
  }
  const bool all = fast.dispatch_until([&] { return fast.presented() + fast.discarded() == kFast; }, 20s);
  EXPECT_TRUE(all) << RawClient::describe(fast.error());
  EXPECT_EQ(fast.error().error, 0) << RawClient::describe(fast.error());
  EXPECT_EQ(fast.presented() + fast.discarded(), kFast);
  EXPECT_GE(fast.presented(), 1u) << "the last frame replaces nothing: it must reach the screen";
  const uint32_t fast_presented = fast.presented(), fast_discarded = fast.discarded();
  RecordProperty("fast_presented", static_cast<int>(fast_presented));
  RecordProperty("fast_discarded", static_cast<int>(fast_discarded));
  fast.disconnect();

  // While the fast client's window was on top the good one was occluded, so
  // some of its frames may have been discarded; each has one fate or the other.
  Exit e1;
  const json g1 = sc.finish_client(*good, "good", &e1);
  EXPECT_EQ(g1["error"], "");
  EXPECT_EQ(g1["frames_presented"].get<int>() + g1["frames_discarded"].get<int>(), kGoodFrames);
  RecordProperty("good_presented", g1["frames_presented"].get<int>());
  RecordProperty("good_discarded", g1["frames_discarded"].get<int>());
  // Alone again, a good client gets every frame on screen.
  const json g2 = sc.run_good_client("good2");

  const json s = sc.stop();
  const json& c = s["counters"];
  EXPECT_EQ(c["protocol_errors"], 0);
  EXPECT_EQ(c["commits"], kGoodFrames + kFast + kGoodFrames);
  EXPECT_EQ(c["presented"],
            g1["frames_presented"].get<int>() + static_cast<int>(fast_presented) + kGoodFrames);
  EXPECT_EQ(c["discarded"], g1["frames_discarded"].get<int>() + static_cast<int>(fast_discarded));
  EXPECT_EQ(c["clients_connected"], 3);
  EXPECT_EQ(c["clients_disconnected"], 3);
}

// The backpressure itself: while a complete frame waits in staging for its
// commit the compositor reads nothing more, so of the next frame only what
// fits in the socket buffer can be written; the commit releases the rest.
TEST_F(BaselineSocketStream, CompleteFrameWaitingForItsCommitStopsTheReader) {
  // Bigger than any socket buffer this could meet: 4 MiB of frame 1 must not fit.
  constexpr uint32_t kBW = 1024, kBH = 1024;
  constexpr uint64_t kBytes = uint64_t{kBW} * 4 * kBH;
  auto client = stream_client();
  RawClient& c = *client;
  int sndbuf = 0;
  socklen_t len = sizeof sndbuf;
  ASSERT_EQ(::getsockopt(c.data_fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &len), 0);
  if (static_cast<uint64_t>(sndbuf) * 2 >= kBytes) GTEST_SKIP() << "socket buffer of " << sndbuf << " bytes";

  c.write_header(valid_header(kBW, kBH, 0), kBytes);  // frame 0, complete (blocking writes)
  ASSERT_TRUE(c.roundtrip());
  // Frame 1, non-blocking, until the socket accepts nothing for a while.
  const int fl = ::fcntl(c.data_fd(), F_GETFL);
  ASSERT_EQ(::fcntl(c.data_fd(), F_SETFL, fl | O_NONBLOCK), 0);
  std::vector<uint8_t> frame1(kHeaderBytes + kBytes, 0x11);
  const auto hdr = encode(valid_header(kBW, kBH, 1));
  std::copy(hdr.begin(), hdr.end(), frame1.begin());
  size_t sent = 0;
  for (;;) {
    const ssize_t n = ::write(c.data_fd(), frame1.data() + sent, frame1.size() - sent);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      if (sent == frame1.size()) break;
      continue;
    }
    ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EINTR)) << std::strerror(errno);
    pollfd p{c.data_fd(), POLLOUT, 0};
    if (::poll(&p, 1, 500) == 0) break;  // no room for half a second: the reader has stopped
  }
  EXPECT_LT(sent, frame1.size()) << "the compositor kept reading past a complete, uncommitted frame";
  EXPECT_LE(sent, static_cast<size_t>(sndbuf) * 2) << "more of frame 1 went through than a socket buffer holds";

  // Committing frame 0 lets the reader go on; frame 1 then goes through whole.
  c.attach_frame(0);
  c.request_feedback();
  c.commit();
  ASSERT_GE(c.flush(), 0);
  ASSERT_EQ(::fcntl(c.data_fd(), F_SETFL, fl), 0);
  write_all(c.data_fd(), frame1.data() + sent, frame1.size() - sent);
  c.attach_frame(1);
  c.request_feedback();
  c.commit();
  EXPECT_TRUE(c.dispatch_until([&] { return c.presented() + c.discarded() == 2; }, 20s))
      << RawClient::describe(c.error());
  EXPECT_EQ(c.error().error, 0) << RawClient::describe(c.error());
  EXPECT_GE(c.presented(), 1u);
  c.disconnect();

  const json s = sc.stop();
  EXPECT_EQ(s["counters"]["protocol_errors"], 0);
  EXPECT_EQ(s["counters"]["commits"], 2);
  EXPECT_EQ(s["counters"]["presented"].get<int>() + s["counters"]["discarded"].get<int>(), 2);
}

}  // namespace
}  // namespace zcb
